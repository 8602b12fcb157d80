// SwiGLU's gate: h = SiLU(a) * b, SiLU(a) = a sigmoid(a) (Shazeer 2020; Llama's feed-forward,
// Memory Mosaics v2's persistent memory). Shapes: flat arrays of n elements. Threads only for
// long arrays, as GELU's.
#pragma once
#include <cmath>
#include <cstdint>

namespace mosaic {

constexpr int64_t kSwiGluParallelMin = 1 << 15;

template <class F>
inline F sigmoid(F x) {
  return F(1) / (F(1) + std::exp(-x));
}

template <class F>
void swiglu_forward(F* h, const F* a, const F* b, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kSwiGluParallelMin)
  for (int64_t i = 0; i < n; ++i) h[i] = a[i] * sigmoid(a[i]) * b[i];
}

// Accumulates into da and db: d SiLU(a) / da = s (1 + a (1 - s)), s = sigmoid(a).
template <class F>
void swiglu_backward(F* da, F* db, const F* a, const F* b, const F* dh, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kSwiGluParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const F s = sigmoid(a[i]);
    da[i] += dh[i] * b[i] * s * (F(1) + a[i] * (F(1) - s));
    db[i] += dh[i] * a[i] * s;
  }
}

}  // namespace mosaic
