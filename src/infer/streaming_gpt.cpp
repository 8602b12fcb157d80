// Streaming GPT: chunks of rows through the blocks with a KV cache; the window slides by
// re-encoding its tail, or with relative positions by dropping its head (streaming_gpt.hpp).
#include "infer/streaming_gpt.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "kernels/attention.hpp"

namespace mosaic {

StreamingGpt::StreamingGpt(const Gpt<float>& model, const StreamOptions& options)
    : TokenStream(model.wte().weight.value, model.config().vocab_size, model.config().n_embd, options), model_(model) {
  const ModelConfig& c = model.config();
  C_ = c.n_embd;
  H_ = c.n_head;
  hs_ = c.head_size();
  block_ = c.block_size;
  MOSAIC_CHECK(options.gpt_keep >= 0 && options.gpt_keep < block_,
               "--gpt-keep " + std::to_string(options.gpt_keep) + " must be below block_size " + std::to_string(block_),
               "0 keeps block_size / 2 tokens when the window slides");
  keep_ = options.gpt_keep > 0 ? options.gpt_keep : block_ / 2;
  relative_ = !c.learned_positions();
  layers_.resize(c.n_layer);
  for (Layer& L : layers_) {
    L.k_cache.resize(static_cast<size_t>(block_) * C_);
    L.v_cache.resize(static_cast<size_t>(block_) * C_);
  }
  const size_t rows = kStreamChunk;
  for (auto* b : {&x_, &pos_, &a_, &y_, &out_}) b->resize(rows * C_);
  qkv_.resize(rows * 3 * C_);
  hidden_.resize(rows * 4 * C_);
  scores_.resize(block_);
  positions_.resize(rows);
  abs_positions_.resize(rows);
  window_.reserve(block_);
}

void StreamingGpt::reset() {
  window_.clear();
  fed_ = 0;
  base_ = 0;
}

std::string StreamingGpt::describe() const {
  const std::string pos = model_.config().pos_encoding.empty() ? "learned" : model_.config().pos_encoding;
  return "gpt KV cache (" + pos + " positions), window " + std::to_string(block_) +
         (relative_ ? " (drops the oldest, keeping " : " (slides re-encoding ") + std::to_string(keep_) + ")" +
         (head_.precision() == HeadPrecision::Bf16 ? ", bf16 head" : "");
}

// Causal attention of `rows` new positions over the cache, which they are appended to first.
void StreamingGpt::attention(const GptBlock<float>& block, Layer& L, const float* qkv, float* y, int rows) {
  const int p0 = static_cast<int>(window_.size());
  const float scale = block.mixer.score_scale();
  for (int r = 0; r < rows; ++r) {
    const int pos = p0 + r;
    const float* row = qkv + static_cast<int64_t>(r) * 3 * C_;  // q | k | v
    for (int h = 0; h < H_; ++h) {
      float* kc = L.k_cache.data() + static_cast<int64_t>(h) * block_ * hs_;
      float* vc = L.v_cache.data() + static_cast<int64_t>(h) * block_ * hs_;
      std::memcpy(kc + static_cast<int64_t>(pos) * hs_, row + C_ + h * hs_, hs_ * sizeof(float));
      std::memcpy(vc + static_cast<int64_t>(pos) * hs_, row + 2 * C_ + h * hs_, hs_ * sizeof(float));
      attention_row(y + static_cast<int64_t>(r) * C_ + h * hs_, scores_.data(), row + h * hs_, kc, vc, pos + 1, hs_,
                    scale, block.mixer.alibi_slope(h));
    }
  }
}

// Rows at positions window_.size() .. + rows - 1 (the caller keeps them inside block_size).
void StreamingGpt::forward_chunk(const int32_t* tokens, int rows, bool want_features) {
  const int p0 = static_cast<int>(window_.size());
  float* x = x_.data();
  model_.wte().lookup(x, tokens, rows);
  const int64_t n = static_cast<int64_t>(rows) * C_;
  if (relative_) {
    for (int r = 0; r < rows; ++r) abs_positions_[r] = base_ + p0 + r;
  } else {
    for (int r = 0; r < rows; ++r) positions_[r] = p0 + r;
    model_.wpe().lookup(pos_.data(), positions_.data(), rows);
    for (int64_t i = 0; i < n; ++i) x[i] += pos_[i];
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    const GptBlock<float>& block = model_.blocks()[l];
    block.ln_1.apply(a_.data(), x, rows);
    block.mixer.c_attn.apply(qkv_.data(), a_.data(), rows);
    block.mixer.encode_positions(qkv_.data(), rows, abs_positions_.data());
    attention(block, layers_[l], qkv_.data(), y_.data(), rows);
    block.mixer.c_proj.apply(out_.data(), y_.data(), rows);
    for (int64_t i = 0; i < n; ++i) x[i] += out_[i];
    block.ln_2.apply(a_.data(), x, rows);
    block.feedforward.apply(out_.data(), a_.data(), rows, hidden_.data());
    for (int64_t i = 0; i < n; ++i) x[i] += out_[i];
  }
  window_.insert(window_.end(), tokens, tokens + rows);
  if (want_features) model_.ln_f().apply(a_.data(), x + n - C_, 1);  // what the tied head projects
}

// The window is full. Learned positions: re-encode its last keep_ tokens at positions
// 0 .. keep_ - 1. Relative positions: keep their entries, drop the older ones.
void StreamingGpt::slide() {
  if (relative_) {
    const int drop = static_cast<int>(window_.size()) - keep_;
    for (Layer& L : layers_)
      for (auto* cache : {&L.k_cache, &L.v_cache})
        for (int h = 0; h < H_; ++h) {
          float* c = cache->data() + static_cast<int64_t>(h) * block_ * hs_;
          std::memmove(c, c + static_cast<int64_t>(drop) * hs_, static_cast<size_t>(keep_) * hs_ * sizeof(float));
        }
    window_.erase(window_.begin(), window_.begin() + drop);
    base_ += drop;
    return;
  }
  const std::vector<int32_t> kept(window_.end() - keep_, window_.end());
  window_.clear();
  for (int i = 0; i < keep_; i += kStreamChunk)
    forward_chunk(kept.data() + i, std::min(kStreamChunk, keep_ - i), false);
}

const float* StreamingGpt::advance(const int32_t* tokens, int n) {
  check_stream_tokens(tokens, n, vocab_size());
  for (int i = 0; i < n;) {
    if (static_cast<int>(window_.size()) == block_) slide();
    const int rows = std::min({kStreamChunk, n - i, block_ - static_cast<int>(window_.size())});
    forward_chunk(tokens + i, rows, i + rows == n);
    i += rows;
  }
  fed_ += n;
  return a_.data();
}

}  // namespace mosaic
