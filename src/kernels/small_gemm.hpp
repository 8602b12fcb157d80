// Single-threaded C (+)= alpha A B for the thin products inside a parallel loop, where one of
// the three sizes is a head size (32): the persistent memory's scores (rows x P, depth hs) and
// read-out (rows x hs, depth P). OpenBLAS repacks both operands on every such call; here A is
// read in place and B is either used in place (row-major K x n) or, for A B^T, transposed once
// by the caller (pack_transposed) and reused across calls. Measured single-threaded on the
// d128 shapes: 65-80 GFLOP/s against OpenBLAS's 50-64 (microbench/kernels.cpp).
// F = double (the gradient tests) goes to gemm<double>: the float kernel is checked against
// sgemm in tests/test_kernels.cpp.
// Shapes: A (m, K) row stride lda; B (K, n) row stride ldb; C (m, n) row stride ldc.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/simd.hpp"

namespace mosaic {

namespace small_gemm_detail {

constexpr int kRows = 6, kCols = 16;  // a 6 x 16 tile: 12 vector accumulators, 2 loads of B per k

// The tile's rows: rows [0, rows) of A (row stride ld); missing rows repeat the last one and
// are never stored.
struct RowPointers {
  const float* p[kRows];
  RowPointers(const float* base, int64_t ld, int rows) {
    for (int r = 0; r < kRows; ++r) p[r] = base + std::min(r, rows - 1) * ld;
  }
};

// acc[r] += sum over k < K of a[r][k] * B row k (16 floats at b + k ldb): the tile's FMA loop,
// shared with the tied head's kernels (kernels/vocab_softmax.hpp).
inline void multiply_tile(simd::f8 (&acc)[kRows][2], const RowPointers& a, const float* b, int64_t ldb, int K) {
#pragma GCC unroll 4
  for (int kk = 0; kk < K; ++kk) {
    const simd::f8 b0 = simd::load(b + kk * ldb), b1 = simd::load(b + kk * ldb + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      const simd::f8 x = simd::splat(a.p[r][kk]);
      acc[r][0] += x * b0;
      acc[r][1] += x * b1;
    }
  }
}

// One tile: rows <= 6 rows of A times B's 16 columns (cols <= 16 of them stored).
inline void tile(float* c, int ldc, const float* a, int lda, const float* b, int ldb, int K, int rows, int cols,
                 float alpha, bool accumulate) {
  simd::f8 acc[kRows][2] = {};
  multiply_tile(acc, RowPointers(a, lda, rows), b, ldb, K);
  const simd::f8 scale = simd::splat(alpha);
  for (int r = 0; r < rows; ++r) {
    float out[kCols];
    simd::store(out, acc[r][0] * scale);
    simd::store(out + 8, acc[r][1] * scale);
    float* cr = c + static_cast<int64_t>(r) * ldc;
    for (int j = 0; j < cols; ++j) cr[j] = accumulate ? cr[j] + out[j] : out[j];
  }
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
  } else {
    using namespace small_gemm_detail;
    const int full = n / kCols * kCols;
    thread_local std::vector<float> pad;  // the last columns, zero-padded to a whole tile
    if (full < n) {
      pad.assign(static_cast<size_t>(K) * kCols, 0.0f);
      for (int kk = 0; kk < K; ++kk)
        std::memcpy(pad.data() + static_cast<int64_t>(kk) * kCols, b + static_cast<int64_t>(kk) * ldb + full,
                    (n - full) * sizeof(float));
    }
    for (int i = 0; i < m; i += kRows) {
      const int rows = std::min(kRows, m - i);
      const float* ai = a + static_cast<int64_t>(i) * lda;
      float* ci = c + static_cast<int64_t>(i) * ldc;
      for (int j = 0; j < full; j += kCols) tile(ci + j, ldc, ai, lda, b + j, ldb, K, rows, kCols, alpha, accumulate);
      if (full < n) tile(ci + full, ldc, ai, lda, pad.data(), kCols, K, rows, n - full, alpha, accumulate);
    }
  }
}

}  // namespace mosaic
