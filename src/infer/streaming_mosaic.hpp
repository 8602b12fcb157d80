// The Memory Mosaic as a stream: contextual memories are live key/value stores. Per layer it
// keeps the two leaky-average key states (contextual, persistent), the previous position's
// key and raw value (its value v_{t-1} needs x_t), and per head a MemoryStore of (k_i, v_i).
// Token t: update the states, complete and store the pair of t-1, query the store with k_t.
// No positional encoding, so the stream runs past block_size: position t sees pairs i < t
// (or the max_pairs the eviction policy kept). Per token: O(stored pairs x C) for the
// contextual memories, O(C^2 + P C) per layer for the rest, O(V C) for the logits.
// Not the training path (models/memory_mosaic.cpp), which it reproduces to float rounding.
// Shapes: x (rows, C); per head keys/values (pairs, hs); P_k, P_v (count, 1, H, P, hs).
#pragma once
#include <vector>

#include "infer/stream.hpp"
#include "infer/stream_util.hpp"
#include "infer/vocab_head.hpp"

namespace mosaic {

class StreamingMosaic final : public TokenStream {
 public:
  StreamingMosaic(const LanguageModel<float>& model, const StreamOptions& options);

  const float* push(int32_t token) override { return push_many(&token, 1); }
  const float* push_many(const int32_t* tokens, int n) override;
  void reset() override;
  int64_t position() const override { return pos_; }
  int vocab_size() const override { return V_; }
  std::string describe() const override;

  const MemoryStore& store(int layer, int head) const { return layers_[layer].stores[head]; }

 private:
  struct KeyFeatures {  // a KeyExtractor's weights: W_k, then per head decay and scale
    LinearView W;
    std::vector<float> decay, scale;
  };
  struct Layer {
    LayerNormView ln_1, ln_2;
    KeyFeatures ctx_key, pm_key;
    LinearView W_v, ctx_proj, pm_proj;
    const float* coef = nullptr;          // (H) value look-ahead mix
    std::vector<float> val_scale, pm_scale;  // (H) exp(10 val_scale); exp(10 out_scale) / count
    const float *P_k = nullptr, *P_v = nullptr;
    // streaming state
    std::vector<float> ctx_kbar, pm_kbar;        // (C) leaky averages of the keys
    std::vector<float> pending_key, pending_vt;  // (C) k_{t-1} and v~_{t-1}: the incomplete pair
    std::vector<MemoryStore> stores;             // (H)
  };

  KeyFeatures key_features(const ParamLookup& p, const std::string& prefix, int s) const;
  void leaky_keys(KeyFeatures& f, std::vector<float>& kbar, const float* kt, float* k, int rows);
  void contextual_memory(Layer& L, const float* a, float* y, int rows);
  void persistent_memory(Layer& L, const float* a, float* y, int rows);
  void forward_chunk(const int32_t* tokens, int rows, bool want_logits);

  int C_ = 0, H_ = 0, hs_ = 0, V_ = 0, P_ = 0, count_ = 1;
  StreamOptions options_;
  const float* wte_ = nullptr;  // (V, C), also the tied output head
  LayerNormView ln_f_;
  std::vector<Layer> layers_;
  int64_t pos_ = 0;
  // scratch for up to kMaxChunk rows
  VocabHead head_;
  std::vector<float> x_, a_, kt_, vt_, k_, y_, out_, probs_, vbar_, v_, norm_, logits_;
};

}  // namespace mosaic
