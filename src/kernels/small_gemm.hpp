// Single-threaded C (+)= alpha A B for the thin products inside a parallel loop, where one of
// the three sizes is a head size (32): the persistent memory's scores (rows x P, depth hs) and
// read-out (rows x hs, depth P). OpenBLAS repacks both operands on every such call; here A is
// read in place and B is either used in place (row-major K x n) or, for A B^T, transposed once
// by the caller (pack_transposed) and reused across calls. Measured single-threaded on the
// d128 shapes: 65-80 GFLOP/s against OpenBLAS's 50-64 (microbench/kernels.cpp).
// F = double (the gradient tests) goes to gemm<double>: the float kernel is checked against
// sgemm in tests/test_kernels.cpp, on every target the CPU has. Tiles are 6 rows x 16 columns
// (AVX2) or 6 x 32 (AVX-512).
// Shapes: A (m, K) row stride lda; B (K, n) row stride ldb; C (m, n) row stride ldc.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu_target.hpp"
#include "kernels/gemm.hpp"
#include "kernels/simd.hpp"

namespace mosaic {

namespace small_gemm_detail {

constexpr int kRows = 6;  // a 6 x (2 vectors) tile: 12 vector accumulators, 2 loads of B per k

// Columns of a tile: two vectors of V.
template <class V>
constexpr int kCols = 2 * simd::kLanes<V>;

// The tile's rows: rows [0, rows) of A (row stride ld); missing rows repeat the last one and
// are never stored.
struct RowPointers {
  const float* p[kRows];
  RowPointers(const float* base, int64_t ld, int rows) {
    for (int r = 0; r < kRows; ++r) p[r] = base + std::min(r, rows - 1) * ld;
  }
};

// acc[r] += sum over k < K of a[r][k] * B row k (kCols<V> floats at b + k ldb): the tile's FMA
// loop, shared with the tied head's kernels (kernels/vocab_softmax.hpp).
template <class V>
MOSAIC_INLINE void multiply_tile(V (&acc)[kRows][2], const RowPointers& a, const float* b, int64_t ldb, int K) {
  constexpr int L = simd::kLanes<V>;
#pragma GCC unroll 4
  for (int kk = 0; kk < K; ++kk) {
    const V b0 = simd::load<V>(b + kk * ldb), b1 = simd::load<V>(b + kk * ldb + L);
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      const V x = simd::splat<V>(a.p[r][kk]);
      acc[r][0] += x * b0;
      acc[r][1] += x * b1;
    }
  }
}

// One tile: rows <= 6 rows of A times B's kCols<V> columns (cols <= kCols<V> of them stored).
template <class V>
MOSAIC_INLINE void tile(float* c, int ldc, const float* a, int lda, const float* b, int ldb, int K, int rows, int cols,
                        float alpha, bool accumulate) {
  constexpr int L = simd::kLanes<V>;
  V acc[kRows][2] = {};
  multiply_tile<V>(acc, RowPointers(a, lda, rows), b, ldb, K);
  const V scale = simd::splat<V>(alpha);
  for (int r = 0; r < rows; ++r) {
    float out[2 * L];
    simd::store(out, acc[r][0] * scale);
    simd::store(out + L, acc[r][1] * scale);
    float* cr = c + static_cast<int64_t>(r) * ldc;
    for (int j = 0; j < cols; ++j) cr[j] = accumulate ? cr[j] + out[j] : out[j];
  }
}

template <class V>
MOSAIC_INLINE void small_sgemm(int m, int n, int K, float alpha, const float* a, int lda, const float* b, int ldb,
                               bool accumulate, float* c, int ldc) {
  constexpr int cols = kCols<V>;
  const int full = n / cols * cols;
  thread_local std::vector<float> pad;  // the last columns, zero-padded to a whole tile
  if (full < n) {
    pad.assign(static_cast<size_t>(K) * cols, 0.0f);
    for (int kk = 0; kk < K; ++kk)
      std::memcpy(pad.data() + static_cast<int64_t>(kk) * cols, b + static_cast<int64_t>(kk) * ldb + full,
                  (n - full) * sizeof(float));
  }
  for (int i = 0; i < m; i += kRows) {
    const int rows = std::min(kRows, m - i);
    const float* ai = a + static_cast<int64_t>(i) * lda;
    float* ci = c + static_cast<int64_t>(i) * ldc;
    for (int j = 0; j < full; j += cols) tile<V>(ci + j, ldc, ai, lda, b + j, ldb, K, rows, cols, alpha, accumulate);
    if (full < n) tile<V>(ci + full, ldc, ai, lda, pad.data(), cols, K, rows, n - full, alpha, accumulate);
  }
}

MOSAIC_TARGET_AVX512 inline void small_sgemm_avx512(int m, int n, int K, float alpha, const float* a, int lda,
                                                    const float* b, int ldb, bool accumulate, float* c, int ldc) {
  small_sgemm<simd::f16>(m, n, K, alpha, a, lda, b, ldb, accumulate, c, ldc);
}

inline void small_sgemm_avx2(int m, int n, int K, float alpha, const float* a, int lda, const float* b, int ldb,
                             bool accumulate, float* c, int ldc) {
  small_sgemm<simd::f8>(m, n, K, alpha, a, lda, b, ldb, accumulate, c, ldc);
}

}  // namespace small_gemm_detail

// bt (K, n) = b^T for b (n, K) with row stride ldb: turns A B^T into A bt.
template <class F>
void pack_transposed(F* bt, const F* b, int n, int K, int ldb) {
  for (int j = 0; j < n; ++j)
    for (int kk = 0; kk < K; ++kk) bt[static_cast<int64_t>(kk) * n + j] = b[static_cast<int64_t>(j) * ldb + kk];
}

template <class F>
void small_gemm(int m, int n, int K, F alpha, const F* a, int lda, const F* b, int ldb, bool accumulate, F* c, int ldc) {
  if constexpr (!std::is_same_v<F, float>) {
    gemm<F>(Op::N, Op::N, m, n, K, alpha, a, lda, b, ldb, accumulate ? F(1) : F(0), c, ldc);
  } else if (simd_target() == SimdTarget::avx512) {
    small_gemm_detail::small_sgemm_avx512(m, n, K, alpha, a, lda, b, ldb, accumulate, c, ldc);
  } else {
    small_gemm_detail::small_sgemm_avx2(m, n, K, alpha, a, lda, b, ldb, accumulate, c, ldc);
  }
}

}  // namespace mosaic
