// The GPT baseline: its blocks, in the decoder skeleton (see gpt.hpp).
#include "models/gpt.hpp"

namespace mosaic {

template <class F>
static std::vector<GptBlock<F>> gpt_blocks(const ModelConfig& c) {
  std::vector<GptBlock<F>> blocks;
  for (int l = 0; l < c.n_layer; ++l)
    blocks.emplace_back(c.n_embd, c.bias, CausalSelfAttention<F>(c.n_embd, c.n_head, c.bias, c.prob_dropout(), c.pos_encoding),
                        Mlp<F>(c.n_embd, c.bias), c.resid_dropout());
  return blocks;
}

template <class F>
Gpt<F>::Gpt(const ModelConfig& c) : Decoder<F, GptBlock<F>>(c, gpt_blocks<F>(c), "transformer.") {}

template <class F>
std::unique_ptr<LanguageModel<F>> make_gpt(const ModelConfig& config) {
  return std::make_unique<Gpt<F>>(config);
}

template class Gpt<float>;
template class Gpt<double>;
template std::unique_ptr<LanguageModel<float>> make_gpt<float>(const ModelConfig&);
template std::unique_ptr<LanguageModel<double>> make_gpt<double>(const ModelConfig&);

}  // namespace mosaic
