// The Memory Mosaic language model (reference: nanoMosaics/mosaic_model.py, MemoryMosaic).
// Each block: x += ContextualMemory(LN(x)) (layers/contextual_memory.cpp: keys are leaky
// averages, values peek one step ahead, retrieval excludes the diagonal), then
// x += PersistentMemory(LN(x)) (layers/persistent_memory.cpp: learned key/value slots in
// place of the MLP). No positional encoding: order enters only through the leaky averages.
#pragma once
#include <memory>
#include <vector>

#include "layers/contextual_memory.hpp"
#include "layers/persistent_memory.hpp"
#include "models/block.hpp"
#include "models/decoder.hpp"

namespace mosaic {

template <class F>
using MosaicBlock = Block<F, ContextualMemory<F>, PersistentMemory<F>>;

template <class F>
class MemoryMosaic final : public Decoder<F, MosaicBlock<F>> {
 public:
  explicit MemoryMosaic(const ModelConfig& c);
};

template <class F>
std::unique_ptr<LanguageModel<F>> make_memory_mosaic(const ModelConfig& config);

}  // namespace mosaic
