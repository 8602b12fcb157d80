// The Memory Mosaic language model (reference: nanoMosaics/mosaic_model.py, MemoryMosaic).
// Each block: x += ContextualMemory(LN(x)) (layers/contextual_memory.cpp: keys are leaky
// averages, values peek one step ahead, retrieval excludes the diagonal), then
// x += PersistentMemory(LN(x)) (layers/persistent_memory.cpp: learned key/value slots in
// place of the MLP). No positional encoding: order enters only through the leaky averages.
// Memory Mosaics v2 (arXiv 2507.03285) is a set of config options of the same model: the
// contextual memory's short- and long-term levels, gated keys and adaptive bandwidth, and a
// SwiGLU persistent memory (layers/swiglu.hpp, the FeedForward parameter).
#pragma once
#include <memory>
#include <vector>

#include "layers/contextual_memory.hpp"
#include "layers/persistent_memory.hpp"
#include "layers/swiglu.hpp"
#include "models/block.hpp"
#include "models/decoder.hpp"

namespace mosaic {

template <class F, class FeedForward = PersistentMemory<F>>
using MosaicBlock = Block<F, ContextualMemory<F>, FeedForward>;

template <class F, class FeedForward = PersistentMemory<F>>
class MemoryMosaic final : public Decoder<F, MosaicBlock<F, FeedForward>> {
 public:
  explicit MemoryMosaic(const ModelConfig& c);
};

// A Memory Mosaic of the config's options (the persistent memory's kind among them).
template <class F>
std::unique_ptr<LanguageModel<F>> make_memory_mosaic(const ModelConfig& config);

}  // namespace mosaic
