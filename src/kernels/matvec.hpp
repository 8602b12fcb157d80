// One-row linear algebra for streaming inference, the single-token counterpart of gemm:
// dot, y = W x, y += W^T p. Not BLAS: OpenBLAS's sgemm with one row is ~3x slower than these
// loops here, and sgemv would be a second BLAS entry point. Written on kernels/simd.hpp's
// 8-float vectors, in a fixed order, so results are the same on every run.
// Shapes: W (rows, cols) row-major; x (cols); y (rows); p (rows).
#pragma once
#include <algorithm>
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

// Eight rows at a time share each load of x, one accumulator per row, and the eight sums come
// out as one vector (simd::sum8: three rounds of pairwise adds instead of a reduction per row).
// A last group of fewer rows repeats its last row and stores only its own, so a row's sum does
// not depend on where it falls. For matrices that sit in cache (the 128 x 128 projections, the
// stored keys of a head), where the loop, not memory, is the limit.
inline void matvec_rows8(float* y, const float* W, const float* x, int rows, int cols) {
  const int c8 = cols / 8 * 8;
  for (int r = 0; r < rows; r += 8) {
    const int n = std::min(8, rows - r);
    const float* w[8];
    for (int i = 0; i < 8; ++i) w[i] = W + static_cast<int64_t>(r + std::min(i, n - 1)) * cols;
    simd::f8 a[8] = {};
    for (int c = 0; c < c8; c += 8) {
      const simd::f8 xv = simd::load(x + c);
      for (int i = 0; i < 8; ++i) a[i] += simd::load(w[i] + c) * xv;
    }
    alignas(32) float s[8];
    simd::store(s, simd::sum8(a));
    for (int c = c8; c < cols; ++c)
      for (int i = 0; i < 8; ++i) s[i] += w[i][c] * x[c];
    std::memcpy(y + r, s, n * sizeof(float));
  }
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

// y = W x (+ bias when not null): in-cache matrices eight rows at a time, larger ones streamed.
inline void matvec(float* y, const float* W, const float* x, const float* bias, int rows, int cols, int threads = 1) {
  const bool large = static_cast<int64_t>(rows) * cols > (1 << 18);  // > 1 MiB: beyond L2
  if (large)
    matvec_streamed(y, W, x, rows, cols, threads);
  else
    matvec_rows8(y, W, x, rows, cols);
  if (bias)
    for (int r = 0; r < rows; ++r) y[r] += bias[r];
}

// y += sum_r p_r W_r: a probability-weighted sum of rows (attention read-out). Columns in
// blocks of 32 held in registers across all rows, even and odd rows in two sets of
// accumulators (one set would wait on each add's latency), added at the end.
inline void add_weighted_rows(float* y, const float* W, const float* p, int rows, int cols) {
  int c0 = 0;
  for (; c0 + 32 <= cols; c0 += 32) {
    simd::f8 a[4], b[4] = {};
    for (int k = 0; k < 4; ++k) a[k] = simd::load(y + c0 + 8 * k);
    int r = 0;
    for (; r + 2 <= rows; r += 2) {
      const float* w = W + static_cast<int64_t>(r) * cols + c0;
      const simd::f8 p0 = simd::splat(p[r]), p1 = simd::splat(p[r + 1]);
      for (int k = 0; k < 4; ++k) {
        a[k] += p0 * simd::load(w + 8 * k);
        b[k] += p1 * simd::load(w + cols + 8 * k);
      }
    }
    if (r < rows) {
      const float* w = W + static_cast<int64_t>(r) * cols + c0;
      const simd::f8 p0 = simd::splat(p[r]);
      for (int k = 0; k < 4; ++k) a[k] += p0 * simd::load(w + 8 * k);
    }
    for (int k = 0; k < 4; ++k) simd::store(y + c0 + 8 * k, a[k] + b[k]);
  }
  for (int r = 0; r < rows; ++r) {
    const float pr = p[r];
    const float* w = W + static_cast<int64_t>(r) * cols;
    for (int c = c0; c < cols; ++c) y[c] += pr * w[c];
  }
}

}  // namespace mosaic
