// Streaming Memory Mosaic. A chunk of rows (the prompt, or one generated token) goes through
// the layers one at a time: the projections are matrix products over the chunk, the
// leaky-average scans and the store/query steps run row by row in order, so a chunk gives
// exactly what one push per token gives, eviction included.
#include "infer/streaming_mosaic.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"
#include "kernels/matvec.hpp"
#include "kernels/gemm.hpp"
#include "kernels/memory_features.hpp"
#include "kernels/softmax.hpp"

namespace mosaic {

namespace {

constexpr int kMaxChunk = 64;        // rows per prompt chunk: bounds the scratch, keeps gemms efficient
constexpr double kExpScaling = 10;   // the reference's exp_scaling (layers/key_extractor.cpp)
const double kKeyScaleMax = std::log(65535.0);

}  // namespace

StreamingMosaic::StreamingMosaic(const LanguageModel<float>& model, const StreamOptions& options)
    : options_(options) {
  const ModelConfig& c = model.config();
  MOSAIC_CHECK(c.arch == "mosaic", "StreamingMosaic needs a Memory Mosaic, got arch " + c.arch, "use make_stream()");
  C_ = c.n_embd;
  H_ = c.n_head;
  hs_ = c.head_size();
  V_ = c.vocab_size;
  P_ = c.pmem_size;
  count_ = c.pmem_count;
  const ParamLookup p(model.params(), c.bias);
  wte_ = p.tensor("mosaic.wte.weight", {V_, C_});
  head_ = VocabHead(wte_, V_, C_, options.head, stream_threads(options.threads));
  ln_f_ = p.layernorm("mosaic.ln_f.", C_);
  layers_.resize(c.n_layer);
  for (int l = 0; l < c.n_layer; ++l) {
    Layer& L = layers_[l];
    const std::string pre = "mosaic.h." + std::to_string(l) + ".";
    L.ln_1 = p.layernorm(pre + "ln_1.", C_);
    L.ln_2 = p.layernorm(pre + "ln_2.", C_);
    L.ctx_key = key_features(p, pre + "attn.k_featurizer.", 1);
    L.pm_key = key_features(p, pre + "mlp.k_featurizer.", 2);
    L.W_v = p.linear(pre + "attn.v_featurizer.W_v.", C_, C_);
    L.ctx_proj = p.linear(pre + "attn.c_proj.", C_, C_);
    L.pm_proj = p.linear(pre + "mlp.c_proj.", C_, C_);
    L.coef = p.tensor(pre + "attn.v_featurizer.coef", {1, H_, 1, 1});
    const float* val_scale = p.tensor(pre + "attn.v_featurizer.val_scale", {1, H_, 1, 1});
    const float* out_scale = p.tensor(pre + "mlp.out_scale", {1, H_, 1, 1});
    for (int h = 0; h < H_; ++h) {  // as layers/value_extractor.cpp and persistent_memory.cpp
      L.val_scale.push_back(static_cast<float>(std::exp(kExpScaling * val_scale[h])));
      L.pm_scale.push_back(static_cast<float>(std::exp(kExpScaling * out_scale[h]) / count_));
    }
    L.P_k = p.tensor(pre + "mlp.P_k", {count_, 1, H_, P_, hs_});
    L.P_v = p.tensor(pre + "mlp.P_v", {count_, 1, H_, P_, hs_});
    L.stores.assign(H_, MemoryStore(hs_, options.memory));
  }
  const size_t rows = kMaxChunk;
  for (auto* b : {&x_, &a_, &kt_, &vt_, &k_, &y_, &out_}) b->resize(rows * C_);
  probs_.resize(rows * std::max(P_, 1));
  vbar_.resize(C_);
  v_.resize(C_);
  norm_.resize(H_);
  logits_.resize(V_);
  reset();
}

StreamingMosaic::KeyFeatures StreamingMosaic::key_features(const ParamLookup& p, const std::string& prefix,
                                                           int s) const {
  KeyFeatures f;
  f.W = p.linear(prefix + "W_k.", C_, C_);
  const float* key_scale = p.tensor(prefix + "key_scale", {1, H_, 1, 1});
  const float* beta = p.tensor(prefix + "leaky_avg.leaky_key_beta", {1, H_, 1, 1});
  for (int h = 0; h < H_; ++h) {  // as layers/key_extractor.cpp, to the last rounding
    f.decay.push_back(static_cast<float>(std::exp(-kExpScaling * std::abs(static_cast<double>(beta[h])))));
    f.scale.push_back(static_cast<float>(std::exp(std::min(s * kExpScaling * key_scale[h], kKeyScaleMax))));
  }
  return f;
}

void StreamingMosaic::reset() {
  pos_ = 0;
  for (Layer& L : layers_) {
    L.ctx_kbar.assign(C_, 0.0f);
    L.pm_kbar.assign(C_, 0.0f);
    L.pending_key.assign(C_, 0.0f);
    L.pending_vt.assign(C_, 0.0f);
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

// kbar_t = k~_t + decay_h kbar_{t-1}, then k_t = Norm(kbar_t) * scale_h, row by row.
void StreamingMosaic::leaky_keys(KeyFeatures& f, std::vector<float>& kbar, const float* kt, float* k, int rows) {
  for (int r = 0; r < rows; ++r) {
    const float* ktr = kt + static_cast<int64_t>(r) * C_;
    for (int c = 0; c < C_; ++c) kbar[c] = ktr[c] + f.decay[c / hs_] * kbar[c];
    normalize_scale_forward(k + static_cast<int64_t>(r) * C_, norm_.data(), kbar.data(), f.scale.data(), 1, C_, hs_);
  }
}

void StreamingMosaic::contextual_memory(Layer& L, const float* a, float* y, int rows) {
  L.ctx_key.W.apply(kt_.data(), a, rows);
  L.W_v.apply(vt_.data(), a, rows);
  leaky_keys(L.ctx_key, L.ctx_kbar, kt_.data(), k_.data(), rows);
  for (int r = 0; r < rows; ++r) {
    const int64_t t = pos_ + r;
    const float* k = k_.data() + static_cast<int64_t>(r) * C_;
    const float* vt = vt_.data() + static_cast<int64_t>(r) * C_;
    if (t > 0) {  // x_t completes v_{t-1} = Norm((1 - c) v~_t + c v~_{t-1}) * exp(10 val_scale)
      for (int c = 0; c < C_; ++c) {
        const float mix = L.coef[c / hs_];
        vbar_[c] = (1.0f - mix) * vt[c] + mix * L.pending_vt[c];
      }
      normalize_scale_forward(v_.data(), norm_.data(), vbar_.data(), L.val_scale.data(), 1, C_, hs_);
      for (int h = 0; h < H_; ++h) L.stores[h].add(L.pending_key.data() + h * hs_, v_.data() + h * hs_, t - 1);
    }
    for (int h = 0; h < H_; ++h) L.stores[h].query(k + h * hs_, y + static_cast<int64_t>(r) * C_ + h * hs_, t);
    std::memcpy(L.pending_key.data(), k, C_ * sizeof(float));
    std::memcpy(L.pending_vt.data(), vt, C_ * sizeof(float));
  }
}

// Per bank and head: softmax(k . P_k^T) P_v, summed over banks, times exp(10 out_scale) / count.
void StreamingMosaic::persistent_memory(Layer& L, const float* a, float* y, int rows) {
  L.pm_key.W.apply(kt_.data(), a, rows);
  leaky_keys(L.pm_key, L.pm_kbar, kt_.data(), k_.data(), rows);
  std::fill(y, y + static_cast<int64_t>(rows) * C_, 0.0f);
  for (int i = 0; i < count_; ++i)
    for (int h = 0; h < H_; ++h) {
      const int64_t slot = (static_cast<int64_t>(i) * H_ + h) * P_ * hs_;
      const float *pk = L.P_k + slot, *pv = L.P_v + slot;
      float* probs = probs_.data();
      if (rows == 1) {
        matvec(probs, pk, k_.data() + h * hs_, nullptr, P_, hs_);
        softmax_prefix(probs, P_, P_);
        add_weighted_rows(y + h * hs_, pv, probs, P_, hs_);
        continue;
      }
      gemm<float>(Op::N, Op::T, rows, P_, hs_, 1.0f, k_.data() + h * hs_, C_, pk, hs_, 0.0f, probs, P_);
      for (int r = 0; r < rows; ++r) softmax_prefix(probs + static_cast<int64_t>(r) * P_, P_, P_);
      gemm<float>(Op::N, Op::N, rows, hs_, P_, 1.0f, probs, P_, pv, hs_, 1.0f, y + h * hs_, C_);
    }
  for (int64_t r = 0; r < rows; ++r)
    for (int c = 0; c < C_; ++c) y[r * C_ + c] *= L.pm_scale[c / hs_];
}

void StreamingMosaic::forward_chunk(const int32_t* tokens, int rows, bool want_logits) {
  float* x = x_.data();
  for (int r = 0; r < rows; ++r)
    std::memcpy(x + static_cast<int64_t>(r) * C_, wte_ + static_cast<int64_t>(tokens[r]) * C_, C_ * sizeof(float));
  const int64_t n = static_cast<int64_t>(rows) * C_;
  for (Layer& L : layers_) {
    L.ln_1.apply(a_.data(), x, rows);
    contextual_memory(L, a_.data(), y_.data(), rows);
    L.ctx_proj.apply(out_.data(), y_.data(), rows);
    for (int64_t i = 0; i < n; ++i) x[i] += out_[i];
    L.ln_2.apply(a_.data(), x, rows);
    persistent_memory(L, a_.data(), y_.data(), rows);
    L.pm_proj.apply(out_.data(), y_.data(), rows);
    for (int64_t i = 0; i < n; ++i) x[i] += out_[i];
  }
  pos_ += rows;
  if (!want_logits) return;
  ln_f_.apply(a_.data(), x + n - C_, 1);
  head_.project(a_.data(), logits_.data());  // the tied head: logits = wte x
}

const float* StreamingMosaic::push_many(const int32_t* tokens, int n) {
  MOSAIC_CHECK(n > 0, "no tokens to push", "pass at least one token");
  for (int i = 0; i < n; ++i)
    MOSAIC_CHECK(tokens[i] >= 0 && tokens[i] < V_,
                 "token id " + std::to_string(tokens[i]) + " outside the vocabulary of " + std::to_string(V_),
                 "the prompt and the model must use the same tokenizer");
  for (int i = 0; i < n; i += kMaxChunk) {
    const int rows = std::min(kMaxChunk, n - i);
    forward_chunk(tokens + i, rows, i + rows == n);
  }
  return logits_.data();
}

}  // namespace mosaic
