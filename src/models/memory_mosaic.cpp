// The Memory Mosaic language model (reference: nanoMosaics/mosaic_model.py, MemoryMosaic).
// Each block: x += ContextualMemory(LN(x)) (layers/contextual_memory.cpp: keys are leaky
// averages, values peek one step ahead, retrieval excludes the diagonal), then
// x += PersistentMemory(LN(x)) (layers/persistent_memory.cpp: learned key/value slots in
// place of the MLP). No positional encoding: order enters only through the leaky averages.
#include "layers/contextual_memory.hpp"
#include "layers/persistent_memory.hpp"
#include "models/block.hpp"
#include "models/decoder.hpp"
#include "models/memory_mosaic.hpp"

namespace mosaic {

template <class F>
using MosaicBlock = Block<F, ContextualMemory<F>, PersistentMemory<F>>;

template <class F>
static std::vector<MosaicBlock<F>> mosaic_blocks(const ModelConfig& c) {
  std::vector<MosaicBlock<F>> blocks;
  for (int l = 0; l < c.n_layer; ++l)
    blocks.emplace_back(c.n_embd, c.bias, ContextualMemory<F>(c.n_embd, c.n_head, c.bias),
                        PersistentMemory<F>(c.n_embd, c.n_head, c.pmem_size, c.pmem_count, c.bias));
  return blocks;
}

template <class F>
class MemoryMosaic final : public Decoder<F, MosaicBlock<F>> {
 public:
  explicit MemoryMosaic(const ModelConfig& c)
      : Decoder<F, MosaicBlock<F>>(c, mosaic_blocks<F>(c), "mosaic.", /*learned_positions=*/false) {}
};

template <class F>
std::unique_ptr<LanguageModel<F>> make_memory_mosaic(const ModelConfig& config) {
  return std::make_unique<MemoryMosaic<F>>(config);
}

template std::unique_ptr<LanguageModel<float>> make_memory_mosaic<float>(const ModelConfig&);
template std::unique_ptr<LanguageModel<double>> make_memory_mosaic<double>(const ModelConfig&);

}  // namespace mosaic
