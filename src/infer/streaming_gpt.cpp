// Streaming GPT: chunks of rows through the blocks with a KV cache; the window slides by
// re-encoding its tail (see streaming_gpt.hpp for why).
#include "infer/streaming_gpt.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "kernels/matvec.hpp"
#include "kernels/softmax.hpp"

namespace mosaic {

namespace {

constexpr int kMaxChunk = 64;  // rows per prompt chunk

// GELU, exact erf form, as kernels/activations.hpp but serial (one token must not fork threads).
void gelu_rows(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * static_cast<float>(M_SQRT1_2)));
}

}  // namespace

StreamingGpt::StreamingGpt(const LanguageModel<float>& model, const StreamOptions& options) {
  const ModelConfig& c = model.config();
  MOSAIC_CHECK(c.arch == "gpt", "StreamingGpt needs a GPT, got arch " + c.arch, "use make_stream()");
  C_ = c.n_embd;
  H_ = c.n_head;
  hs_ = c.head_size();
  V_ = c.vocab_size;
  block_ = c.block_size;
  MOSAIC_CHECK(options.gpt_keep >= 0 && options.gpt_keep < block_,
               "--gpt-keep " + std::to_string(options.gpt_keep) + " must be below block_size " + std::to_string(block_),
               "0 keeps block_size / 2 tokens when the window slides");
  keep_ = options.gpt_keep > 0 ? options.gpt_keep : block_ / 2;
  const ParamLookup p(model.params(), c.bias);
  wte_ = p.tensor("transformer.wte.weight", {V_, C_});
  head_ = VocabHead(wte_, V_, C_, options.head, stream_threads(options.threads));
  wpe_ = p.tensor("transformer.wpe.weight", {block_, C_});
  ln_f_ = p.layernorm("transformer.ln_f.", C_);
  layers_.resize(c.n_layer);
  for (int l = 0; l < c.n_layer; ++l) {
    Layer& L = layers_[l];
    const std::string pre = "transformer.h." + std::to_string(l) + ".";
    L.ln_1 = p.layernorm(pre + "ln_1.", C_);
    L.ln_2 = p.layernorm(pre + "ln_2.", C_);
    L.c_attn = p.linear(pre + "attn.c_attn.", 3 * C_, C_);
    L.attn_proj = p.linear(pre + "attn.c_proj.", C_, C_);
    L.c_fc = p.linear(pre + "mlp.c_fc.", 4 * C_, C_);
    L.mlp_proj = p.linear(pre + "mlp.c_proj.", C_, 4 * C_);
    L.k_cache.resize(static_cast<size_t>(block_) * C_);
    L.v_cache.resize(static_cast<size_t>(block_) * C_);
  }
  const size_t rows = kMaxChunk;
  for (auto* b : {&x_, &a_, &y_, &out_}) b->resize(rows * C_);
  qkv_.resize(rows * 3 * C_);
  hidden_.resize(rows * 4 * C_);
  scores_.resize(block_);
  logits_.resize(V_);
  window_.reserve(block_);
}

void StreamingGpt::reset() {
  window_.clear();
  fed_ = 0;
}

std::string StreamingGpt::describe() const {
  return "gpt KV cache, window " + std::to_string(block_) + " (slides keeping " + std::to_string(keep_) + ")" +
         (head_.precision() == HeadPrecision::Bf16 ? ", bf16 head" : "");
}

// Causal attention of `rows` new positions over the cache, which they are appended to first.
void StreamingGpt::attention(Layer& L, const float* qkv, float* y, int rows) {
  const int p0 = static_cast<int>(window_.size());
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs_));
  std::fill(y, y + static_cast<int64_t>(rows) * C_, 0.0f);
  for (int r = 0; r < rows; ++r) {
    const int pos = p0 + r;
    const float* row = qkv + static_cast<int64_t>(r) * 3 * C_;  // q | k | v
    for (int h = 0; h < H_; ++h) {
      float* kc = L.k_cache.data() + static_cast<int64_t>(h) * block_ * hs_;
      float* vc = L.v_cache.data() + static_cast<int64_t>(h) * block_ * hs_;
      std::memcpy(kc + static_cast<int64_t>(pos) * hs_, row + C_ + h * hs_, hs_ * sizeof(float));
      std::memcpy(vc + static_cast<int64_t>(pos) * hs_, row + 2 * C_ + h * hs_, hs_ * sizeof(float));
      float* s = scores_.data();
      matvec(s, kc, row + h * hs_, nullptr, pos + 1, hs_);
      for (int j = 0; j <= pos; ++j) s[j] *= scale;
      softmax_prefix(s, pos + 1, pos + 1);
      add_weighted_rows(y + static_cast<int64_t>(r) * C_ + h * hs_, vc, s, pos + 1, hs_);
    }
  }
}

// Rows at positions window_.size() .. + rows - 1 (the caller keeps them inside block_size).
void StreamingGpt::forward_chunk(const int32_t* tokens, int rows, bool want_logits) {
  const int p0 = static_cast<int>(window_.size());
  float* x = x_.data();
  for (int r = 0; r < rows; ++r) {
    const float* tok = wte_ + static_cast<int64_t>(tokens[r]) * C_;
    const float* pos = wpe_ + static_cast<int64_t>(p0 + r) * C_;
    for (int c = 0; c < C_; ++c) x[static_cast<int64_t>(r) * C_ + c] = tok[c] + pos[c];
  }
  const int64_t n = static_cast<int64_t>(rows) * C_;
  for (Layer& L : layers_) {
    L.ln_1.apply(a_.data(), x, rows);
    L.c_attn.apply(qkv_.data(), a_.data(), rows);
    attention(L, qkv_.data(), y_.data(), rows);
    L.attn_proj.apply(out_.data(), y_.data(), rows);
    for (int64_t i = 0; i < n; ++i) x[i] += out_[i];
    L.ln_2.apply(a_.data(), x, rows);
    L.c_fc.apply(hidden_.data(), a_.data(), rows);
    gelu_rows(hidden_.data(), 4 * n);
    L.mlp_proj.apply(out_.data(), hidden_.data(), rows);
    for (int64_t i = 0; i < n; ++i) x[i] += out_[i];
  }
  window_.insert(window_.end(), tokens, tokens + rows);
  if (!want_logits) return;
  ln_f_.apply(a_.data(), x + n - C_, 1);
  head_.project(a_.data(), logits_.data());
}

// The window is full: re-encode its last keep_ tokens at positions 0 .. keep_ - 1.
void StreamingGpt::slide() {
  const std::vector<int32_t> kept(window_.end() - keep_, window_.end());
  window_.clear();
  for (int i = 0; i < keep_; i += kMaxChunk) forward_chunk(kept.data() + i, std::min(kMaxChunk, keep_ - i), false);
}

const float* StreamingGpt::push_many(const int32_t* tokens, int n) {
  MOSAIC_CHECK(n > 0, "no tokens to push", "pass at least one token");
  for (int i = 0; i < n; ++i)
    MOSAIC_CHECK(tokens[i] >= 0 && tokens[i] < V_,
                 "token id " + std::to_string(tokens[i]) + " outside the vocabulary of " + std::to_string(V_),
                 "the prompt and the model must use the same tokenizer");
  for (int i = 0; i < n;) {
    if (static_cast<int>(window_.size()) == block_) slide();
    const int rows = std::min({kMaxChunk, n - i, block_ - static_cast<int>(window_.size())});
    forward_chunk(tokens + i, rows, i + rows == n);
    i += rows;
  }
  fed_ += n;
  return logits_.data();
}

}  // namespace mosaic
