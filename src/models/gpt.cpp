// GPT-2 baseline: learned positions, blocks of causal self-attention (q, k, v, 1/sqrt(hs))
// and a GELU MLP of width 4C, same decoder skeleton, head and loss as the Memory Mosaic.
#include "models/gpt.hpp"

#include "layers/causal_self_attention.hpp"
#include "layers/mlp.hpp"
#include "models/block.hpp"
#include "models/decoder.hpp"

namespace mosaic {

template <class F>
using GptBlock = Block<F, CausalSelfAttention<F>, Mlp<F>>;

template <class F>
static std::vector<GptBlock<F>> gpt_blocks(const ModelConfig& c) {
  std::vector<GptBlock<F>> blocks;
  for (int l = 0; l < c.n_layer; ++l)
    blocks.emplace_back(c.n_embd, c.bias, CausalSelfAttention<F>(c.n_embd, c.n_head, c.bias), Mlp<F>(c.n_embd, c.bias));
  return blocks;
}

template <class F>
std::unique_ptr<LanguageModel<F>> make_gpt(const ModelConfig& config) {
  return std::make_unique<Decoder<F, GptBlock<F>>>(config, gpt_blocks<F>(config), "transformer.",
                                                   /*learned_positions=*/true);
}

template std::unique_ptr<LanguageModel<float>> make_gpt<float>(const ModelConfig&);
template std::unique_ptr<LanguageModel<double>> make_gpt<double>(const ModelConfig&);

}  // namespace mosaic
