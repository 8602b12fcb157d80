// Our own float kernels against OpenBLAS's sgemm (the float64 gradient tests route around
// them, so this is where their arithmetic is checked).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/rng.hpp"
#include "kernels/gemm.hpp"
#include "kernels/small_gemm.hpp"

namespace mosaic {
namespace {

TEST(SmallGemm, MatchesSgemmOnTilesAndRemainders) {
  Rng rng(21);
  struct Shape { int m, n, K; };
  // whole 6 x 16 tiles, row and column remainders, depth 1, the model's shapes
  for (const Shape s : {Shape{6, 16, 8}, Shape{7, 17, 5}, Shape{1, 1, 1}, Shape{13, 40, 1}, Shape{64, 448, 32},
                        Shape{64, 32, 448}, Shape{5, 3, 33}}) {
    const int lda = s.K + 3, ldb = s.n + 5, ldc = s.n + 2;  // strides wider than the rows
    std::vector<float> a(static_cast<size_t>(s.m) * lda), b(static_cast<size_t>(s.K) * ldb), bt(static_cast<size_t>(s.n) * s.K);
    for (auto& v : a) v = static_cast<float>(rng.uniform() - 0.5);
    for (auto& v : b) v = static_cast<float>(rng.uniform() - 0.5);
    for (bool accumulate : {false, true}) {
      std::vector<float> ours(static_cast<size_t>(s.m) * ldc), blas(ours.size());
      for (size_t i = 0; i < ours.size(); ++i) ours[i] = blas[i] = static_cast<float>(rng.uniform());
      small_gemm<float>(s.m, s.n, s.K, 0.75f, a.data(), lda, b.data(), ldb, accumulate, ours.data(), ldc);
      gemm<float>(Op::N, Op::N, s.m, s.n, s.K, 0.75f, a.data(), lda, b.data(), ldb, accumulate ? 1.0f : 0.0f, blas.data(), ldc);
      for (int i = 0; i < s.m; ++i)
        for (int j = 0; j < ldc; ++j) {
          const size_t at = static_cast<size_t>(i) * ldc + j;
          if (j >= s.n) {  // padding between rows is never written
            ASSERT_EQ(ours[at], blas[at]) << "row " << i << " col " << j;
            continue;
          }
          ASSERT_NEAR(ours[at], blas[at], 1e-6 * s.K + 1e-6) << s.m << "x" << s.n << "x" << s.K << " at " << i << "," << j;
        }
    }
    // A B^T through pack_transposed: b2 (n, K) with row stride K + 1.
    std::vector<float> b2(static_cast<size_t>(s.n) * (s.K + 1));
    for (auto& v : b2) v = static_cast<float>(rng.uniform() - 0.5);
    pack_transposed(bt.data(), b2.data(), s.n, s.K, s.K + 1);
    std::vector<float> ours(static_cast<size_t>(s.m) * s.n), blas(ours.size());
    small_gemm<float>(s.m, s.n, s.K, 1.0f, a.data(), lda, bt.data(), s.n, false, ours.data(), s.n);
    gemm<float>(Op::N, Op::T, s.m, s.n, s.K, 1.0f, a.data(), lda, b2.data(), s.K + 1, 0.0f, blas.data(), s.n);
    for (size_t i = 0; i < ours.size(); ++i) ASSERT_NEAR(ours[i], blas[i], 1e-6 * s.K + 1e-6) << i;
  }
}

}  // namespace
}  // namespace mosaic
