// bf16 rounding, the error bound, and the fp32 re-check of the top logits.
#include "infer/vocab_head.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include <omp.h>

#include "core/error.hpp"
#include "kernels/threads.hpp"
#include "kernels/vector_math.hpp"
#include "kernels/vocab_panels.hpp"

namespace mosaic {

namespace {

// float -> bfloat16, rounding to nearest even (weights are finite).
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// A fingerprint of the weights' bytes: four multiply-xor lanes (a millisecond for 25 MB).
uint64_t fingerprint(const float* w, int64_t n) {
  uint64_t h[4] = {1, 2, 3, 4};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 4; ++k) {
      uint64_t word;
      std::memcpy(&word, w + i + 2 * k, sizeof word);
      h[k] = (h[k] ^ word) * 0x9E3779B97F4A7C15ull;
    }
  for (; i < n; ++i) {
    uint32_t word;
    std::memcpy(&word, w + i, sizeof word);
    h[0] = (h[0] ^ word) * 0x9E3779B97F4A7C15ull;
  }
  return h[0] ^ (h[1] << 1) ^ (h[2] << 2) ^ (h[3] << 3);
}

// Every head over the same weights (a batch's streams, a server's sessions) shares one packed
// copy, for as long as one of them lives; weights changed in place pack again.
template <class Weight, class Convert>
std::shared_ptr<const std::vector<Weight>> shared_panels(const float* wte, int V, int C, Convert convert) {
  using Key = std::tuple<const float*, int, int, uint64_t>;
  static std::mutex mutex;
  static std::map<Key, std::weak_ptr<const std::vector<Weight>>> packed;
  const Key key{wte, V, C, fingerprint(wte, static_cast<int64_t>(V) * C)};
  std::lock_guard lock(mutex);
  std::erase_if(packed, [](const auto& entry) { return entry.second.expired(); });
  if (auto found = packed[key].lock()) return found;
  auto panels = std::make_shared<const std::vector<Weight>>(pack_panels<Weight>(wte, V, C, convert));
  packed[key] = panels;
  return panels;
}

}  // namespace

HeadPrecision parse_head_precision(const std::string& name) {
  if (name == "fp32") return HeadPrecision::Fp32;
  if (name == "bf16") return HeadPrecision::Bf16;
  throw Error("unknown head precision '" + name + "'", "use --head fp32 or --head bf16");
}

std::string head_precision_name(HeadPrecision p) { return p == HeadPrecision::Fp32 ? "fp32" : "bf16"; }

VocabHead::VocabHead(const float* wte, int V, int C, HeadPrecision precision, int threads)
    : wte_(wte), V_(V), C_(C), threads_(threads), precision_(precision) {
  if (precision_ == HeadPrecision::Fp32) {
    panels_ = shared_panels<float>(wte, V, C, [](float f) { return f; });
    return;
  }
  panels_bf16_ = shared_panels<uint16_t>(wte, V, C, to_bf16);
  for (int v = 0; v < V; ++v) {
    const float* w = wte + static_cast<int64_t>(v) * C;
    double sq = 0;
    for (int c = 0; c < C; ++c) sq += static_cast<double>(w[c]) * w[c];
    max_row_norm_ = std::max(max_row_norm_, std::sqrt(sq));
  }
}

// |bf16 logit - fp32 logit| <= sum_c |x_c| |w_c - bf16(w_c)| + both sums' float rounding
// <= (2^-8 + 2 (C + 1) 2^-24) ||x|| max_v ||w_v|| (Cauchy-Schwarz; bf16 keeps 8 significant
// bits), with 1% to spare.
double VocabHead::error_bound(const float* x) const {
  if (precision_ == HeadPrecision::Fp32) return 0;
  double sq = 0;
  for (int c = 0; c < C_; ++c) sq += static_cast<double>(x[c]) * x[c];
  return 1.01 * (std::ldexp(1.0, -8) + 2.0 * (C_ + 1) * std::ldexp(1.0, -24)) * std::sqrt(sq) * max_row_norm_;
}

void VocabHead::project_rows(const float* X, int m, float* logits) {
  const StepThreads step_threads;
  const int threads = threads_ > 0 ? threads_ : omp_get_max_threads();
  const int panels = panel_count(V_), width = panels * kPanelRows;
  const bool padded = width != V_;
  if (padded) padded_.resize(static_cast<size_t>(m) * width);
  float* Y = padded ? padded_.data() : logits;
  if (precision_ == HeadPrecision::Fp32)
    panel_matmat(Y, width, panels_->data(), 0, panels, X, C_, m, C_, threads);
  else
    panel_matmat(Y, width, panels_bf16_->data(), 0, panels, X, C_, m, C_, threads);
  for (int i = 0; i < m; ++i) {
    float* li = logits + static_cast<int64_t>(i) * V_;
    if (padded) std::copy_n(padded_.begin() + static_cast<int64_t>(i) * width, V_, li);
    if (precision_ == HeadPrecision::Bf16) recheck_top(X + static_cast<int64_t>(i) * C_, li);
  }
}

// The bf16 maximum is at most e above the fp32 one, so anything within e of the fp32 maximum
// lies above top - 3e here: those logits are recomputed in fp32, by the fp32 panels' FMA chain.
void VocabHead::recheck_top(const float* x, float* logits) const {
  const float top = lane_max(logits, V_);
  const double cut = top - 3 * error_bound(x);
  for (int b = 0; b < V_; b += 16) {
    const int n = std::min(16, V_ - b);
    if (lane_max(logits + b, n) < cut) continue;  // none of these is near the top
    for (int v = b; v < b + n; ++v)
      if (logits[v] >= cut) {
        const float* w = wte_ + static_cast<int64_t>(v) * C_;
        float sum = 0;
        for (int c = 0; c < C_; ++c) sum = std::fma(w[c], x[c], sum);
        logits[v] = sum;
      }
  }
}

}  // namespace mosaic
