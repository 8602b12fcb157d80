// The Memory Mosaic as a stream: contextual memories are live key/value stores. Per layer it
// keeps the extractors' stream states (the two leaky averages, the last raw value, whose value
// v_{t-1} needs x_t), the previous position's key, and per head a MemoryStore of (k_i, v_i).
// Token t: update the states, complete and store the pair of t-1, query the store with k_t.
// No positional encoding, so the stream runs past block_size: position t sees pairs i < t
// (or the max_pairs the eviction policy kept). Per token: O(stored pairs x C) for the
// contextual memories, O(C^2 + P C) per layer for the rest, O(V C) for the logits.
// The math is the model's own: every step calls the layers of models/memory_mosaic.hpp
// (apply / step), so the stream reproduces the full forward to float rounding.
// Shapes: x (rows, C); per head keys/values (pairs, hs).
#pragma once
#include <vector>

#include "infer/stream.hpp"
#include "infer/vocab_head.hpp"
#include "models/memory_mosaic.hpp"

namespace mosaic {

class StreamingMosaic final : public TokenStream {
 public:
  // The model must outlive the stream; its weights are read, not copied (the per-head
  // coefficients are taken once, here).
  StreamingMosaic(const MemoryMosaic<float>& model, const StreamOptions& options);

  const float* advance(const int32_t* tokens, int n) override;
  void reset() override;
  int64_t position() const override { return pos_; }
  std::string describe() const override;

  const MemoryStore& store(int layer, int head) const { return layers_[layer].stores[head]; }

 private:
  struct Layer {
    KeyExtractor<float>::Stream keys;            // the contextual memory's keys
    ValueExtractor<float>::Stream values;
    PersistentMemory<float>::Stream persistent;
    std::vector<float> pending_key;              // (C) k_{t-1}: stored with v_{t-1} once x_t arrives
    std::vector<MemoryStore> stores;             // (H)
  };

  void contextual_memory(const MosaicBlock<float>& block, Layer& L, const float* a, float* y, int rows);
  void forward_chunk(const int32_t* tokens, int rows, bool want_features);

  const MemoryMosaic<float>& model_;
  int C_ = 0, H_ = 0, hs_ = 0;
  StreamOptions options_;
  std::vector<Layer> layers_;
  int64_t pos_ = 0;
  std::vector<float> x_, a_, k_, v_, y_, out_;  // scratch for up to kStreamChunk rows
};

}  // namespace mosaic
