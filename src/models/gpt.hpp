// The GPT-2 baseline (nanoGPT's GPT, as in the reference's gpt_model.py): learned positions,
// blocks of causal self-attention (q, k, v, 1/sqrt(hs)) and a GELU MLP of width 4C, in the
// same decoder skeleton, head and loss as the Memory Mosaic.
#pragma once
#include <memory>
#include <vector>

#include "layers/causal_self_attention.hpp"
#include "layers/mlp.hpp"
#include "models/block.hpp"
#include "models/decoder.hpp"

namespace mosaic {

template <class F>
using GptBlock = Block<F, CausalSelfAttention<F>, Mlp<F>>;

template <class F>
class Gpt final : public Decoder<F, GptBlock<F>> {
 public:
  explicit Gpt(const ModelConfig& c);
};

template <class F>
std::unique_ptr<LanguageModel<F>> make_gpt(const ModelConfig& config);

}  // namespace mosaic
