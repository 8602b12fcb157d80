// LayerNorm over the last dimension (eps inside the sqrt, as PyTorch), forward and backward.
// Raw loops only; the LayerNorm layer in layers/ owns parameters and caches.
// Shapes: x, out, dx, dout (N, C); mean, rstd (N); w, b, dw, db (C).
#pragma once
#include <cmath>
#include <cstdint>

namespace mosaic {

// One row: out = (x - mean) / sqrt(var + eps) * w + b, in double, biased variance as PyTorch.
template <class F>
inline void layernorm_row(F* out, F* mean, F* rstd, const F* x, const F* w, const F* b, int C, double eps) {
  double m = 0, v = 0;
  for (int c = 0; c < C; ++c) m += x[c];
  m /= C;
  for (int c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
  v /= C;
  const double r = 1.0 / std::sqrt(v + eps);
  for (int c = 0; c < C; ++c) out[c] = static_cast<F>((x[c] - m) * r) * w[c] + (b ? b[c] : F(0));
  *mean = static_cast<F>(m);
  *rstd = static_cast<F>(r);
}

// Rows in parallel when there are enough of them to pay for a thread team (a streamed token
// is one row). mean and rstd (N) are kept for the backward pass.
template <class F>
void layernorm_forward(F* out, F* mean, F* rstd, const F* x, const F* w, const F* b, int64_t N, int C,
                       double eps) {
#pragma omp parallel for schedule(static) if (N >= 16)
  for (int64_t i = 0; i < N; ++i) layernorm_row(out + i * C, mean + i, rstd + i, x + i * C, w, b, C, eps);
}

// Accumulates into dx, dw and db (db may be null when the norm has no bias).
template <class F>
void layernorm_backward(F* dx, F* dw, F* db, const F* dout, const F* x, const F* w, const F* mean,
                        const F* rstd, int64_t N, int C) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    const F* xi = x + i * C;
    const F* gi = dout + i * C;
    double m = mean[i], r = rstd[i];
    double sum_g = 0, sum_gx = 0;  // means of dnorm and dnorm * xhat
    for (int c = 0; c < C; ++c) {
      double g = gi[c] * w[c];
      sum_g += g;
      sum_gx += g * (xi[c] - m) * r;
    }
    sum_g /= C;
    sum_gx /= C;
    F* dxi = dx + i * C;
    for (int c = 0; c < C; ++c) {
      double xhat = (xi[c] - m) * r;
      dxi[c] += static_cast<F>(r * (gi[c] * w[c] - sum_g - xhat * sum_gx));
    }
  }
  // Parameter grads reduce over rows: a serial loop keeps the sum order fixed (deterministic).
  for (int64_t i = 0; i < N; ++i) {
    const F* xi = x + i * C;
    const F* gi = dout + i * C;
    F m = mean[i], r = rstd[i];
    for (int c = 0; c < C; ++c) {
      dw[c] += gi[c] * (xi[c] - m) * r;
      if (db) db[c] += gi[c];
    }
  }
}

}  // namespace mosaic
