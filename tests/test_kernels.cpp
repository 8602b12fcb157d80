// Our own float kernels against OpenBLAS's sgemm or the float64 path (the float64 gradient
// tests route around them, so this is where their arithmetic is checked).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/rng.hpp"
#include "kernels/gemm.hpp"
#include "kernels/small_gemm.hpp"
#include "layers/embedding.hpp"
#include "layers/tied_lm_head.hpp"
#include "plan_layer.hpp"

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

// The float head's fused kernel (kernels/vocab_softmax.hpp) against the float64 gemm + softmax
// path, which tests/test_gradients.cpp checks by finite differences: loss, d x, d wte.
struct HeadRun {
  double loss = 0;
  std::vector<double> dx, dwte;
  int64_t rows_redone = 0;
};

template <class F>
HeadRun run_head(const std::vector<double>& w, const std::vector<double>& x, const std::vector<int32_t>& targets, int V,
                 int C, int64_t chunk, bool want_grad, bool* fused = nullptr) {
  Embedding<F> wte(V, C);
  ParamTable<F> table;
  wte.register_params(table, "wte");
  table.allocate();
  for (size_t i = 0; i < w.size(); ++i) wte.weight.value[i] = static_cast<F>(w[i]);
  TiedLmHead<F> head(&wte, {chunk, true});
  const int64_t N = static_cast<int64_t>(targets.size());
  auto acts = testing::plan_layer<F>(head, N, int64_t{0});
  std::vector<F> xf(x.begin(), x.end()), dx(x.size(), F(0));
  HeadRun run;
  run.loss = head.loss(xf.data(), N, targets.data(), want_grad);
  if (fused) *fused = head.uses_fused_kernel();
  run.rows_redone = head.rows_redone;
  if (!want_grad) return run;
  head.add_grads(F(0.5), dx.data());
  run.dx.assign(dx.begin(), dx.end());
  run.dwte.assign(wte.weight.grad, wte.weight.grad + w.size());
  return run;
}

TEST(TiedLmHead, FusedKernelMatchesTheFloat64Path) {
  Rng rng(5);
  struct Shape {
    int V, C, N;
    int64_t chunk;
  };
  // a vocabulary of whole 16-word groups and one with a partial last group and fewer groups
  // than slabs; rows in whole 6-row tiles and not; one chunk and several
  for (const Shape s : {Shape{320, 32, 12, 0}, Shape{37, 16, 13, 0}, Shape{301, 48, 17, 5}, Shape{1000, 64, 30, 7}})
    for (bool far_max : {false, true}) {
      std::vector<double> w(static_cast<size_t>(s.V) * s.C), x(static_cast<size_t>(s.N) * s.C);
      for (auto& v : w) v = 0.5 * (rng.uniform() - 0.5);
      for (auto& v : x) v = 4.0 * (rng.uniform() - 0.5);
      // Row 0 points along a long word vector that is neither sampled for the shift nor its
      // target: its largest logit is ~1200 above its shift, the sum overflows, and the row must
      // be redone with its true max (other rows may be too).
      if (far_max)
        for (int k = 0; k < s.C; ++k) {
          x[k] = k == 1 ? 3.0 : 0.0;
          w[static_cast<size_t>(s.V - 1) * s.C + k] = k == 1 ? 400.0 : 0.0;
        }
      std::vector<int32_t> targets(s.N);
      for (int i = 0; i < s.N; ++i) targets[i] = i % 5 == 2 ? -1 : static_cast<int32_t>(rng.uniform() * s.V);
      targets[0] = 0;
      targets[1] = s.V - 1;  // a target in the partial group
      for (bool want_grad : {true, false}) {
        bool fused = false;
        const HeadRun ours = run_head<float>(w, x, targets, s.V, s.C, s.chunk, want_grad, &fused);
        const HeadRun exact = run_head<double>(w, x, targets, s.V, s.C, s.chunk, want_grad);
        ASSERT_TRUE(fused);
        if (far_max)
          EXPECT_GE(ours.rows_redone, 1) << "V " << s.V;
        else
          EXPECT_EQ(ours.rows_redone, 0) << "V " << s.V;
        EXPECT_NEAR(ours.loss, exact.loss, 1e-5 * std::abs(exact.loss)) << "V " << s.V;
        if (!want_grad) continue;
        double scale = 0;
        for (double v : exact.dwte) scale = std::max(scale, std::abs(v));
        for (size_t i = 0; i < exact.dwte.size(); ++i)
          ASSERT_NEAR(ours.dwte[i], exact.dwte[i], 1e-5 * scale) << "dwte " << i;
        scale = 0;
        for (double v : exact.dx) scale = std::max(scale, std::abs(v));
        for (size_t i = 0; i < exact.dx.size(); ++i) ASSERT_NEAR(ours.dx[i], exact.dx[i], 1e-5 * scale) << "dx " << i;
      }
    }
}

}  // namespace
}  // namespace mosaic
