// Streaming Memory Mosaic. A chunk of rows (the prompt, or one generated token) goes through
// the layers one at a time: the projections are matrix products over the chunk, the
// leaky-average scans and the store/query steps run row by row in order, so a chunk gives
// exactly what one push per token gives, eviction included.
#include "infer/streaming_mosaic.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"

namespace mosaic {

StreamingMosaic::StreamingMosaic(const MemoryMosaic<float>& model, const StreamOptions& options)
    : TokenStream(model.wte().weight.value, model.config().vocab_size, model.config().n_embd, options),
      model_(model),
      options_(options) {
  const ModelConfig& c = model.config();
  C_ = c.n_embd;
  H_ = c.n_head;
  hs_ = c.head_size();
  for (const auto& block : model.blocks()) {
    Layer L;
    L.keys = block.mixer.k_featurizer.start_stream(kStreamChunk);
    L.values = block.mixer.v_featurizer.start_stream(kStreamChunk);
    L.persistent = block.feedforward.start_stream(kStreamChunk);
    L.pending_key.assign(C_, 0.0f);
    L.stores.assign(H_, MemoryStore(hs_, options.memory));
    layers_.push_back(std::move(L));
  }
  for (auto* b : {&x_, &a_, &k_, &v_, &y_, &out_}) b->resize(static_cast<size_t>(kStreamChunk) * C_);
  reset();
}

void StreamingMosaic::reset() {
  pos_ = 0;
  for (Layer& L : layers_) {
    L.keys.reset();
    L.values.reset();
    L.persistent.reset();
    for (auto& s : L.stores) s.clear();
  }
}

std::string StreamingMosaic::describe() const {
  const MemoryLimit& m = options_.memory;
  const std::string head = head_.precision() == HeadPrecision::Bf16 ? ", bf16 head" : "";
  if (m.max_pairs == 0) return "mosaic streaming, unbounded memory" + head;
  std::string s = "mosaic streaming, " + std::to_string(m.max_pairs) + " pairs per head, evict " + eviction_name(m.policy);
  if (m.policy == Eviction::LeastRecentlyUsed) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " (used: weight > %g)", m.lru_threshold);
    s += buf;
  }
  return s + head;
}

// The contextual memory of `rows` new positions: keys and values from the layer's extractors;
// each position completes and stores the previous position's pair, then queries the stores.
void StreamingMosaic::contextual_memory(const MosaicBlock<float>& block, Layer& L, const float* a, float* y, int rows) {
  block.mixer.k_featurizer.step(k_.data(), a, rows, L.keys);
  const int first_value = block.mixer.v_featurizer.step(v_.data(), a, rows, L.values);
  for (int r = 0; r < rows; ++r) {
    const int64_t t = pos_ + r;
    const float* k = k_.data() + static_cast<int64_t>(r) * C_;
    if (r >= first_value) {  // row r of v_ is v_{t-1}; its key is the previous row's
      const float* key = r == 0 ? L.pending_key.data() : k - C_;
      const float* value = v_.data() + static_cast<int64_t>(r) * C_;
      for (int h = 0; h < H_; ++h) L.stores[h].add(key + h * hs_, value + h * hs_, t - 1);
    }
    for (int h = 0; h < H_; ++h) L.stores[h].query(k + h * hs_, y + static_cast<int64_t>(r) * C_ + h * hs_, t);
  }
  std::memcpy(L.pending_key.data(), k_.data() + static_cast<int64_t>(rows - 1) * C_, C_ * sizeof(float));
}

void StreamingMosaic::forward_chunk(const int32_t* tokens, int rows, bool want_features) {
  float* x = x_.data();
  model_.wte().lookup(x, tokens, rows);
  const int64_t n = static_cast<int64_t>(rows) * C_;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const MosaicBlock<float>& block = model_.blocks()[l];
    block.ln_1.apply(a_.data(), x, rows);
    contextual_memory(block, layers_[l], a_.data(), y_.data(), rows);
    block.mixer.c_proj.apply(out_.data(), y_.data(), rows);
    for (int64_t i = 0; i < n; ++i) x[i] += out_[i];
    block.ln_2.apply(a_.data(), x, rows);
    block.feedforward.step(out_.data(), a_.data(), rows, layers_[l].persistent);
    for (int64_t i = 0; i < n; ++i) x[i] += out_[i];
  }
  pos_ += rows;
  if (want_features) model_.ln_f().apply(a_.data(), x + n - C_, 1);  // what the tied head projects
}

const float* StreamingMosaic::advance(const int32_t* tokens, int n) {
  check_stream_tokens(tokens, n, vocab_size());
  for (int i = 0; i < n; i += kStreamChunk) {
    const int rows = std::min(kStreamChunk, n - i);
    forward_chunk(tokens + i, rows, i + rows == n);
  }
  return a_.data();
}

}  // namespace mosaic
