// bf16 rounding, the error bound, and the fp32 re-check of the top logits.
#include "infer/vocab_head.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "kernels/gemm.hpp"
#include "kernels/matvec.hpp"

namespace mosaic {

namespace {

// float -> bfloat16, rounding to nearest even (weights are finite).
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
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
  if (precision_ == HeadPrecision::Fp32) return;
  MOSAIC_CHECK(C % 8 == 0, "--head bf16 needs n_embd divisible by 8, got " + std::to_string(C), "use --head fp32");
  const int rows = (V + 7) / 8 * 8;
  wte_bf16_.assign(static_cast<size_t>(rows) * C, 0);
  for (int v = 0; v < V; ++v) {
    const float* w = wte + static_cast<int64_t>(v) * C;
    double sq = 0;
    for (int c = 0; c < C; ++c) {
      wte_bf16_[static_cast<int64_t>(v) * C + c] = to_bf16(w[c]);
      sq += static_cast<double>(w[c]) * w[c];
    }
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

void VocabHead::project(const float* x, float* logits) {
  if (precision_ == HeadPrecision::Fp32) {
    matvec_streamed(logits, wte_, x, V_, C_, threads_);
    return;
  }
  project_batch(x, 1, logits);
}

void VocabHead::project_batch(const float* X, int m, float* logits) {
  if (precision_ == HeadPrecision::Fp32) {
    if (m == 1)
      matvec_streamed(logits, wte_, X, V_, C_, threads_);
    else if (C_ % 8 == 0)
      matmat_rows(logits, wte_, X, m, V_, C_, threads_);
    else
      gemm<float>(Op::N, Op::T, m, V_, C_, 1.0f, X, C_, wte_, C_, 0.0f, logits, V_);
    return;
  }
  const int rows = static_cast<int>(wte_bf16_.size() / C_);
  padded_.resize(static_cast<size_t>(m) * rows);
  matmat_rows(padded_.data(), wte_bf16_.data(), X, m, rows, C_, threads_);
  for (int i = 0; i < m; ++i) {
    float* li = logits + static_cast<int64_t>(i) * V_;
    std::copy_n(padded_.begin() + static_cast<int64_t>(i) * rows, V_, li);
    recheck_top(X + static_cast<int64_t>(i) * C_, li);
  }
}

void VocabHead::project_rows(const float* X, int m, float* logits) {
  if (precision_ == HeadPrecision::Bf16) return project_batch(X, m, logits);
  if (C_ % 8 == 0) return matmat_rows(logits, wte_, X, m, V_, C_, threads_);
  for (int i = 0; i < m; ++i)  // dot by dot: each row on its own
    matvec_streamed(logits + static_cast<int64_t>(i) * V_, wte_, X + static_cast<int64_t>(i) * C_, V_, C_, threads_);
}

// The bf16 maximum is at most e above the fp32 one, so anything within e of the fp32 maximum
// lies above top - 3e here: those logits are recomputed in fp32.
void VocabHead::recheck_top(const float* x, float* logits) const {
  const float top = *std::max_element(logits, logits + V_);
  const double cut = top - 3 * error_bound(x);
  for (int v = 0; v < V_; ++v)  // the same dot as matvec_streamed: bit-identical values
    if (logits[v] >= cut) logits[v] = dot(wte_ + static_cast<int64_t>(v) * C_, x, C_);
}

}  // namespace mosaic
