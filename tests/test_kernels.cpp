// Our own float kernels against OpenBLAS's sgemm or the float64 path (the float64 gradient
// tests route around them, so this is where their arithmetic is checked), at the shapes of
// tests/op_cases.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "gradcheck.hpp"
#include "kernels/cpu_target.hpp"
#include "kernels/gemm.hpp"
#include "kernels/matvec.hpp"
#include "kernels/small_gemm.hpp"
#include "layer_harness.hpp"
#include "op_cases.hpp"
#include "run_command.hpp"

namespace mosaic {
namespace {

// Runs body once on every SIMD target this CPU has (AVX2 always, AVX-512 where present), so
// that each dispatching kernel's every body is checked; restores the process's target.
template <class Body>
void on_every_target(Body&& body) {
  const SimdTarget before = simd_target();
  std::vector<SimdTarget> targets{SimdTarget::avx2};
  if (best_simd_target() == SimdTarget::avx512) targets.push_back(SimdTarget::avx512);
  for (SimdTarget target : targets) {
    SCOPED_TRACE(std::string("SIMD target ") + simd_target_name(target));
    set_simd_target(target);
    body();
  }
  set_simd_target(before);
}

// The portable build runs on an AVX2-only CPU: AVX-512 instructions (zmm or mask registers,
// registers 16-31, EVEX-only operations) appear only in the functions dispatched to on AVX-512
// CPUs, whose names end in _avx512. Read off the binary with objdump.
TEST(SimdTargets, AvxFiveTwelveOnlyInsideTheDispatchedKernels) {
  if (MOSAIC_NATIVE_BUILD) GTEST_SKIP() << "built with MOSAIC_NATIVE=ON (-march=native): not portable by design";
  const std::string awk =
      "awk '/^[0-9a-f]+ <.*>:$/ {fn=$2} "
      "/zmm|%k[0-7]|[xy]mm(1[6-9]|2[0-9]|3[01])|vpternlog|vpermt2|vpermi2|vrndscale|vscalef|1to[0-9]/ {print fn}'";
  const auto r = testing::run_command("objdump -d --no-show-raw-insn " + std::string(MOSAIC_BINARY) + " | " + awk +
                                          " | sort -u",
                                      false);
  ASSERT_EQ(r.status, 0) << "objdump (binutils) is needed";
  int dispatched = 0;
  for (size_t start = 0, end; (end = r.output.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string fn = r.output.substr(start, end - start);
    EXPECT_NE(fn.find("_avx512"), std::string::npos) << fn << " holds AVX-512 instructions outside the dispatch";
    ++dispatched;
  }
  EXPECT_GE(dispatched, 3) << "the AVX-512 bodies of the small gemm, the fused head and d wte";
}

// The small gemm cases, then the persistent memory's two products at each model size (the
// shapes the microbenchmarks time).
std::vector<op_cases::GemmCase> small_gemm_cases() {
  std::vector<op_cases::GemmCase> cases(std::begin(op_cases::kSmallGemmCases), std::end(op_cases::kSmallGemmCases));
  for (const auto& m : op_cases::kModelCases) {
    cases.push_back(op_cases::pmem_scores(m));
    cases.push_back(op_cases::pmem_readout(m));
  }
  return cases;
}

// The one-row kernels of streaming against float64 sums, on row and column counts around
// their blocks; a row's score is the same bits whatever rows are beside it (a key's score must
// not depend on the store's size).
TEST(Matvec, RowsAndWeightedRowsMatchFloat64SumsAndARowsBitsDoNotDependOnItsNeighbours) {
  Rng rng(12);
  for (int cols : {1, 7, 8, 31, 32, 33, 128})
    for (int rows : {1, 3, 8, 9, 17, 40}) {
      std::vector<float> W(static_cast<size_t>(rows) * cols), x(cols), p(rows), y(rows), z(cols, 0.5f);
      for (auto& v : W) v = static_cast<float>(rng.uniform() * 2 - 1);
      for (auto& v : x) v = static_cast<float>(rng.uniform() * 2 - 1);
      for (auto& v : p) v = static_cast<float>(rng.uniform());
      matvec(y.data(), W.data(), x.data(), nullptr, rows, cols);
      add_weighted_rows(z.data(), W.data(), p.data(), rows, cols);
      for (int r = 0; r < rows; ++r) {
        double e = 0;
        for (int c = 0; c < cols; ++c) e += static_cast<double>(W[r * cols + c]) * x[c];
        ASSERT_NEAR(y[r], e, 1e-5 * cols) << rows << " x " << cols << ", row " << r;
      }
      for (int c = 0; c < cols; ++c) {
        double e = 0.5;
        for (int r = 0; r < rows; ++r) e += static_cast<double>(p[r]) * W[r * cols + c];
        ASSERT_NEAR(z[c], e, 1e-5 * rows) << rows << " x " << cols << ", column " << c;
      }
      for (int first = 1; first < rows; first += 3) {  // rows [first, rows) alone
        std::vector<float> part(rows - first);
        matvec(part.data(), W.data() + static_cast<int64_t>(first) * cols, x.data(), nullptr, rows - first, cols);
        for (int r = first; r < rows; ++r) ASSERT_EQ(part[r - first], y[r]) << rows << " x " << cols << ", row " << r;
        std::vector<float> head(first);
        matvec(head.data(), W.data(), x.data(), nullptr, first, cols);
        for (int r = 0; r < first; ++r) ASSERT_EQ(head[r], y[r]) << rows << " x " << cols << ", row " << r;
      }
    }
}

TEST(SmallGemm, MatchesSgemmOnTilesAndRemainders) { on_every_target([] {
  Rng rng(21);
  for (const op_cases::GemmCase s : small_gemm_cases()) {
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
}); }

// The float head's fused kernel (kernels/vocab_softmax.hpp) on its real path against the
// float64 head (gemm + softmax), whose gradients the finite-difference check validates at the
// same shape: loss, d x, d wte; and a broken float gradient must fail the same comparison.
// Errors are measured against the tensor's largest entry.
constexpr double kFloatHeadTolerance = 1e-5;

double float_error(const std::vector<double>& ours, const std::vector<double>& exact) {
  double scale = 0, worst = 0;
  for (double v : exact) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < exact.size(); ++i) worst = std::max(worst, std::abs(ours[i] - exact[i]));
  return worst / scale;
}

struct HeadRun {
  double loss = 0;
  std::vector<double> dx, dwte;
  int64_t rows_redone = 0;
  bool fused = false;
};

template <class F>
HeadRun run_head(const std::vector<double>& w, const std::vector<double>& x, const std::vector<int32_t>& targets, int V,
                 int C, int64_t chunk, bool want_grad) {
  testing::TiedHead<F> h(V, C, static_cast<int64_t>(targets.size()), chunk);
  ParamTable<F> table;
  h.register_params(table);
  table.allocate();
  for (size_t i = 0; i < w.size(); ++i) h.wte.weight.value[i] = static_cast<F>(w[i]);
  std::vector<F> xf(x.begin(), x.end()), dx(x.size(), F(0));
  HeadRun run;
  run.loss = h.forward(xf.data(), targets.data(), want_grad);
  run.fused = h.head->uses_fused_kernel();
  run.rows_redone = h.head->rows_redone;
  if (!want_grad) return run;
  h.backward(F(0.5), dx.data());
  run.dx.assign(dx.begin(), dx.end());
  run.dwte.assign(h.wte.weight.grad, h.wte.weight.grad + w.size());
  return run;
}

using op_cases::HeadCase;

class FusedHead : public ::testing::TestWithParam<HeadCase> {};

TEST_P(FusedHead, MatchesTheFloat64Path) {
  const HeadCase s = GetParam();
  Rng rng(5 + s.V);
  std::vector<double> w(static_cast<size_t>(s.V) * s.C), x(static_cast<size_t>(s.N) * s.C);
  for (auto& v : w) v = 0.5 * (rng.uniform() - 0.5);
  for (auto& v : x) v = 4.0 * (rng.uniform() - 0.5);
  // Row 0 points along a long word vector that is neither sampled for the shift nor its
  // target: its largest logit is ~1200 above its shift, the sum overflows, and the row must
  // be redone with its true max (other rows may be too).
  if (s.far_max)
    for (int k = 0; k < s.C; ++k) {
      x[k] = k == 1 ? 3.0 : 0.0;
      w[static_cast<size_t>(s.V - 1) * s.C + k] = k == 1 ? 400.0 : 0.0;
    }
  std::vector<int32_t> targets(s.N);
  for (int i = 0; i < s.N; ++i) targets[i] = i % 5 == 2 ? -1 : static_cast<int32_t>(rng.uniform() * s.V);
  targets[0] = 0;
  if (s.N > 1) targets[1] = s.V - 1;  // a target in the partial group
  for (bool want_grad : {true, false}) on_every_target([&] {
    SCOPED_TRACE(want_grad ? "training forward" : "evaluation forward");
    const HeadRun ours = run_head<float>(w, x, targets, s.V, s.C, s.chunk, want_grad);
    const HeadRun exact = run_head<double>(w, x, targets, s.V, s.C, s.chunk, want_grad);
    ASSERT_TRUE(ours.fused);
    if (s.far_max)
      EXPECT_GE(ours.rows_redone, 1);
    else
      EXPECT_EQ(ours.rows_redone, 0);
    EXPECT_NEAR(ours.loss, exact.loss, kFloatHeadTolerance * std::abs(exact.loss));
    if (!want_grad) return;
    EXPECT_LT(float_error(ours.dwte, exact.dwte), kFloatHeadTolerance);
    EXPECT_LT(float_error(ours.dx, exact.dx), kFloatHeadTolerance);
    // The same comparison catches a float gradient 0.1% off in one entry (gradcheck.hpp's break).
    for (const auto* grad : {&ours.dwte, &ours.dx}) {
      std::vector<double> broken = *grad;
      std::vector<size_t> all(broken.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = i;
      testing::break_gradient(broken.data(), all, 0.0);  // the largest entry: never below a floor
      EXPECT_GT(float_error(broken, grad == &ours.dx ? exact.dx : exact.dwte), kFloatHeadTolerance)
          << (grad == &ours.dx ? "dx" : "dwte");
    }
  });
  // The float64 head at this shape and chunking against finite differences (its own random
  // weights: the far row only concerns the float path).
  if (!s.far_max) {
    auto head = testing::make_head_case(s.V, s.C, targets, s.chunk);
    const auto r = testing::check_layer(*head, 12, "wte");
    EXPECT_LT(r.intact.worst_error, testing::kGradTolerance) << "worst at " << r.intact.worst_where;
    EXPECT_GT(r.broken.worst_error, testing::kGradTolerance) << r.broken.broken_entry << " broken";
  }
}

std::string head_shape_name(const ::testing::TestParamInfo<HeadCase>& info) {
  const HeadCase& s = info.param;
  char name[64];
  std::snprintf(name, sizeof name, "N%d_V%d_C%d_chunk%lld%s", s.N, s.V, s.C, static_cast<long long>(s.chunk),
                s.far_max ? "_far" : "");
  return name;
}


// The head cases of tests/op_cases.hpp (every fifth target ignored).
INSTANTIATE_TEST_SUITE_P(TiedLmHead, FusedHead, ::testing::ValuesIn(op_cases::kHeadCases), head_shape_name);

}  // namespace

// gtest finds a parameter's printer beside its type.
namespace op_cases {
void PrintTo(const HeadCase& s, std::ostream* os) { *os << head_shape_name({s, 0}); }
}  // namespace op_cases

}  // namespace mosaic
