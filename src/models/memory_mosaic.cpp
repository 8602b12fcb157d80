// The Memory Mosaic: its blocks, in the decoder skeleton (see memory_mosaic.hpp).
#include "models/memory_mosaic.hpp"

namespace mosaic {

template <class F>
static std::vector<MosaicBlock<F>> mosaic_blocks(const ModelConfig& c) {
  std::vector<MosaicBlock<F>> blocks;
  for (int l = 0; l < c.n_layer; ++l)
    blocks.emplace_back(c.n_embd, c.bias,
                        ContextualMemory<F>(c.n_embd, c.n_head, c.bias, {.kernel_beta_upbound = c.kernel_beta_upbound, .prob_dropout = c.prob_dropout()}),
                        PersistentMemory<F>(c.n_embd, c.n_head, c.pmem_size, c.pmem_count, c.bias,
                                            c.kernel_beta_upbound, c.prob_dropout()),
                        c.resid_dropout());
  return blocks;
}

template <class F>
MemoryMosaic<F>::MemoryMosaic(const ModelConfig& c)
    : Decoder<F, MosaicBlock<F>>(c, mosaic_blocks<F>(c), "mosaic.") {}

template <class F>
std::unique_ptr<LanguageModel<F>> make_memory_mosaic(const ModelConfig& config) {
  return std::make_unique<MemoryMosaic<F>>(config);
}

template class MemoryMosaic<float>;
template class MemoryMosaic<double>;
template std::unique_ptr<LanguageModel<float>> make_memory_mosaic<float>(const ModelConfig&);
template std::unique_ptr<LanguageModel<double>> make_memory_mosaic<double>(const ModelConfig&);

}  // namespace mosaic
