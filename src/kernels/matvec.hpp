// One-row linear algebra for streaming inference, the single-token counterpart of gemm:
// dot, y = W x, y += W^T p. Not BLAS: OpenBLAS's sgemm with one row is ~3x slower than these
// loops here, and sgemv would be a second BLAS entry point. Written on kernels/simd.hpp's
// 8-float vectors, in a fixed order, so results are the same on every run.
// Shapes: W (rows, cols) row-major; x (cols); y (rows); p (rows).
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/simd.hpp"

namespace mosaic {


// Two accumulators, so consecutive adds do not wait on each other.
inline float dot(const float* a, const float* b, int n) {
  simd::f8 s0 = {}, s1 = {};
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 += simd::load(a + i) * simd::load(b + i);
    s1 += simd::load(a + i + 8) * simd::load(b + i + 8);
  }
  for (; i + 8 <= n; i += 8) s0 += simd::load(a + i) * simd::load(b + i);
  float s = simd::sum(s0 + s1);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Four rows at a time share each load of x: for matrices that sit in cache (the 128 x 128
// projections, the stored keys of a head), where the loop, not memory, is the limit.
inline void matvec_rows4(float* y, const float* W, const float* x, int rows, int cols) {
  int r = 0;
  const int c8 = cols / 8 * 8;
  for (; r + 4 <= rows; r += 4) {
    const float* w0 = W + static_cast<int64_t>(r) * cols;
    const float *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    simd::f8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (int c = 0; c < c8; c += 8) {
      const simd::f8 xv = simd::load(x + c);
      a0 += simd::load(w0 + c) * xv;
      a1 += simd::load(w1 + c) * xv;
      a2 += simd::load(w2 + c) * xv;
      a3 += simd::load(w3 + c) * xv;
    }
    float s[4] = {simd::sum(a0), simd::sum(a1), simd::sum(a2), simd::sum(a3)};
    for (int c = c8; c < cols; ++c) {
      s[0] += w0[c] * x[c];
      s[1] += w1[c] * x[c];
      s[2] += w2[c] * x[c];
      s[3] += w3[c] * x[c];
    }
    std::memcpy(y + r, s, sizeof s);
  }
  for (; r < rows; ++r) y[r] = dot(W + static_cast<int64_t>(r) * cols, x, cols);
}

// y = W x one row at a time with `dot`, prefetching a few rows ahead, rows split over
// `threads` (a thread team costs microseconds: not worth it for small matrices). For
// matrices that stream from memory (the vocabulary projection: 25 MB at d=128).
inline void matvec_streamed(float* y, const float* W, const float* x, int rows, int cols, int threads = 1) {
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int r = 0; r < rows; ++r) {
    const float* w = W + static_cast<int64_t>(r) * cols;
    for (int c = 0; c < cols; c += 16) __builtin_prefetch(w + 16 * cols + c);  // 16 rows ahead
    y[r] = dot(w, x, cols);
  }
}

// y = W x (+ bias when not null): in-cache matrices four rows at a time, larger ones streamed.
inline void matvec(float* y, const float* W, const float* x, const float* bias, int rows, int cols, int threads = 1) {
  const bool large = static_cast<int64_t>(rows) * cols > (1 << 18);  // > 1 MiB: beyond L2
  if (large)
    matvec_streamed(y, W, x, rows, cols, threads);
  else
    matvec_rows4(y, W, x, rows, cols);
  if (bias)
    for (int r = 0; r < rows; ++r) y[r] += bias[r];
}

// y += sum_r p_r W_r: a probability-weighted sum of rows (attention read-out). Columns in
// blocks of 32 held in registers across all rows.
inline void add_weighted_rows(float* y, const float* W, const float* p, int rows, int cols) {
  int c0 = 0;
  for (; c0 + 32 <= cols; c0 += 32) {
    simd::f8 a0 = simd::load(y + c0), a1 = simd::load(y + c0 + 8), a2 = simd::load(y + c0 + 16),
             a3 = simd::load(y + c0 + 24);
    for (int r = 0; r < rows; ++r) {
      const float* w = W + static_cast<int64_t>(r) * cols + c0;
      const simd::f8 pr = simd::splat(p[r]);
      a0 += pr * simd::load(w);
      a1 += pr * simd::load(w + 8);
      a2 += pr * simd::load(w + 16);
      a3 += pr * simd::load(w + 24);
    }
    simd::store(y + c0, a0);
    simd::store(y + c0 + 8, a1);
    simd::store(y + c0 + 16, a2);
    simd::store(y + c0 + 24, a3);
  }
  for (int r = 0; r < rows; ++r) {
    const float pr = p[r];
    const float* w = W + static_cast<int64_t>(r) * cols;
    for (int c = c0; c < cols; ++c) y[c] += pr * w[c];
  }
}

}  // namespace mosaic
