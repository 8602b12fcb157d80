// The vocabulary projection Y = X W^T of streamed tokens, from W repacked in panels of 16 rows:
// panel p holds rows 16p .. 16p + 15 column by column, (cols, 16), so one column step loads 16
// contiguous weights and multiplies them by one broadcast x. Each y is an FMA chain over the
// columns in order, so its bits do not depend on m, on the other rows of X, on the thread count
// or on the SIMD width (AVX2: two 8-float vectors per panel column; AVX-512: one 16-float). The
// panels are read from memory once for all m rows and from cache for each group of 4 rows, with
// no horizontal sums: the row-at-a-time kernels (matvec.hpp) pay a reduction per (row, x) pair.
// Weight: float, or bfloat16 (uint16_t, the high half of a float's bits, widened on load).
// Shapes: W (rows, cols); panels (ceil(rows / 16), cols, 16), rows past `rows` zero;
// X (m, cols) row stride ldx; Y (m, rows) row stride ldy.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu_target.hpp"
#include "kernels/simd.hpp"

namespace mosaic {

constexpr int kPanelRows = 16;

inline int panel_count(int rows) { return (rows + kPanelRows - 1) / kPanelRows; }

// W (rows, cols) as panels, each weight through `convert` (identity for float).
template <class Weight, class Convert>
std::vector<Weight> pack_panels(const float* W, int rows, int cols, Convert convert) {
  std::vector<Weight> panels(static_cast<size_t>(panel_count(rows)) * cols * kPanelRows, Weight(0));
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      panels[(static_cast<int64_t>(r / kPanelRows) * cols + c) * kPanelRows + r % kPanelRows] =
          convert(W[static_cast<int64_t>(r) * cols + c]);
  return panels;
}

namespace vocab_panels_detail {

template <class V, class Weight>
MOSAIC_INLINE V load_weights(const Weight* w) {
  if constexpr (std::is_same_v<Weight, float>) {
    return simd::load<V>(w);
  } else if constexpr (simd::kLanes<V> == 8) {
    return simd::load_bf16(w);
  } else {
    const simd::f8 lo = simd::load_bf16(w), hi = simd::load_bf16(w + 8);
    return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  }
}

// Rows [0, MB) of X against panels [p, p + NP): MB x NP x (16 / lanes) accumulators. Prefetches
// the panels 2 NP on, a cache line per column step.
template <class V, class Weight, int MB, int NP>
MOSAIC_INLINE void tile(float* Y, int64_t ldy, const Weight* panels, int64_t p, const float* X, int64_t ldx, int cols) {
  constexpr int L = simd::kLanes<V>, NV = kPanelRows / L;
  const int64_t panel_size = static_cast<int64_t>(cols) * kPanelRows;
  const Weight* w0 = panels + p * panel_size;
  const char* ahead = reinterpret_cast<const char*>(w0 + 2 * NP * panel_size);  // past the end: a no-op
  constexpr int kStepBytes = kPanelRows * sizeof(Weight);
  V acc[MB][NP * NV] = {};
  for (int c = 0; c < cols; ++c) {
    for (int q = 0; q < NP; ++q) {
      const int64_t at = q * panel_size * static_cast<int64_t>(sizeof(Weight)) + static_cast<int64_t>(c) * kStepBytes;
      if (at % 64 < kStepBytes) __builtin_prefetch(ahead + at);
    }
    V w[NP * NV];
    for (int q = 0; q < NP; ++q)
      for (int k = 0; k < NV; ++k) w[q * NV + k] = load_weights<V>(w0 + q * panel_size + static_cast<int64_t>(c) * kPanelRows + k * L);
    for (int i = 0; i < MB; ++i) {
      const V x = simd::splat<V>(X[i * ldx + c]);
      for (int k = 0; k < NP * NV; ++k) acc[i][k] += w[k] * x;
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int k = 0; k < NP * NV; ++k) simd::store(Y + i * ldy + p * kPanelRows + k * L, acc[i][k]);
}

// Panels [p0, p1) for every row of X, 4 rows at a time.
template <class V, class Weight, int NP>
MOSAIC_INLINE void panel_range(float* Y, int64_t ldy, const Weight* panels, int64_t p0, int64_t p1, const float* X,
                               int64_t ldx, int m, int cols) {
  for (int64_t p = p0; p < p1; p += NP) {
    if (p + NP > p1) {  // fewer than NP panels left: one at a time
      for (; p < p1; ++p) panel_range<V, Weight, 1>(Y, ldy, panels, p, p + 1, X, ldx, m, cols);
      return;
    }
    int i = 0;
    for (; i + 4 <= m; i += 4) tile<V, Weight, 4, NP>(Y + i * ldy, ldy, panels, p, X + i * ldx, ldx, cols);
    switch (m - i) {
      case 3: tile<V, Weight, 3, NP>(Y + i * ldy, ldy, panels, p, X + i * ldx, ldx, cols); break;
      case 2: tile<V, Weight, 2, NP>(Y + i * ldy, ldy, panels, p, X + i * ldx, ldx, cols); break;
      case 1: tile<V, Weight, 1, NP>(Y + i * ldy, ldy, panels, p, X + i * ldx, ldx, cols); break;
      default: break;
    }
  }
}

// Two vectors of weights per column step either way: AVX-512 two panels, AVX2 one.
template <class V, class Weight>
MOSAIC_INLINE void project(float* Y, int64_t ldy, const Weight* panels, int64_t p0, int64_t p1, const float* X,
                           int64_t ldx, int m, int cols) {
  panel_range<V, Weight, simd::kLanes<V> == 16 ? 2 : 1>(Y, ldy, panels, p0, p1, X, ldx, m, cols);
}

template <class Weight>
MOSAIC_TARGET_AVX512 void project_avx512(float* Y, int64_t ldy, const Weight* panels, int64_t p0, int64_t p1,
                                         const float* X, int64_t ldx, int m, int cols) {
  project<simd::f16>(Y, ldy, panels, p0, p1, X, ldx, m, cols);
}

template <class Weight>
void project_avx2(float* Y, int64_t ldy, const Weight* panels, int64_t p0, int64_t p1, const float* X, int64_t ldx,
                  int m, int cols) {
  project<simd::f8>(Y, ldy, panels, p0, p1, X, ldx, m, cols);
}

}  // namespace vocab_panels_detail

// Y's columns [16 p0, 16 p1) = X W^T for panels [p0, p1), the panels split over `threads` in
// contiguous ranges. Y has room for 16 p1 columns per row.
template <class Weight>
void panel_matmat(float* Y, int64_t ldy, const Weight* panels, int p0, int p1, const float* X, int64_t ldx,
                  int m, int cols, int threads = 1) {
  static_assert(std::is_same_v<Weight, float> || std::is_same_v<Weight, uint16_t>);
  const bool wide = simd_target() == SimdTarget::avx512;
  const int parts = std::max(1, std::min(threads, (p1 - p0 + 7) / 8));
#pragma omp parallel for num_threads(parts) schedule(static) if (parts > 1)
  for (int t = 0; t < parts; ++t) {
    // Even split in multiples of 2 panels, so AVX-512's panel pairs line up whatever the split.
    const int64_t span = p1 - p0, pairs = (span + 1) / 2;
    const int64_t a = std::min<int64_t>(p0 + 2 * (pairs * t / parts), p1), b = std::min<int64_t>(p0 + 2 * (pairs * (t + 1) / parts), p1);
    if (wide)
      vocab_panels_detail::project_avx512(Y, ldy, panels, a, b, X, ldx, m, cols);
    else
      vocab_panels_detail::project_avx2(Y, ldy, panels, a, b, X, ldx, m, cols);
  }
}

}  // namespace mosaic
