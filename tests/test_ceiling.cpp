// The ceiling training fractions are read against (bench/throughput.hpp): the higher of sgemm and
// the FMA peak, named; and the FMA peak itself (kernels/fma_peak.hpp).
#include <gtest/gtest.h>

#include <cmath>

#include "bench/throughput.hpp"
#include "core/error.hpp"
#include "kernels/fma_peak.hpp"
#include "kernels/threads.hpp"

namespace mosaic {
namespace {

TEST(Ceiling, IsTheHigherOfSgemmAndTheBestWidthAndSaysWhich) {
  const Ceiling fma = ceiling_of(90, {{SimdTarget::avx2, 110}, {SimdTarget::avx512, 120}});
  EXPECT_EQ(fma.gflops(), 120);
  EXPECT_EQ(fma.source(), "FMA peak, avx512");
  const Ceiling narrow = ceiling_of(90, {{SimdTarget::avx2, 118}, {SimdTarget::avx512, 117}});
  EXPECT_EQ(narrow.gflops(), 118);
  EXPECT_EQ(narrow.source(), "FMA peak, avx2");
  const Ceiling blas = ceiling_of(190, {{SimdTarget::avx2, 110}});
  EXPECT_EQ(blas.gflops(), 190);
  EXPECT_EQ(blas.source(), "OpenBLAS sgemm");
  // Before and after a run: each figure's best, the peak with the width that reached it.
  const Ceiling both = best_of(narrow, blas);
  EXPECT_EQ(both.sgemm_gflops, 190);
  EXPECT_EQ(both.fma_gflops, 118);
  EXPECT_EQ(both.fma_target, SimdTarget::avx2);
}

TEST(FmaPeak, MeasuresEveryWidthTheCpuHasAndRefusesOthers) {
  set_threads(1);
  const auto peaks = fma_peaks(1);
  ASSERT_EQ(peaks.size(), best_simd_target() == SimdTarget::avx512 ? 2u : 1u);
  EXPECT_EQ(peaks.front().first, SimdTarget::avx2);
  for (const auto& [target, gflops] : peaks) {
    // Any x86-64 with FMA does at least 2 FMAs of 8 lanes per ns at 1 GHz; a kernel that lost
    // its work to the optimiser would report far more than a core can (and fail the upper bound).
    EXPECT_TRUE(std::isfinite(gflops));
    EXPECT_GT(gflops, 1.0) << simd_target_name(target);
    EXPECT_LT(gflops, 2000.0) << simd_target_name(target);
  }
  if (best_simd_target() != SimdTarget::avx512) {
    EXPECT_THROW(fma_peak_gflops(SimdTarget::avx512, 1), Error);
  }
  set_threads(0);
}

}  // namespace
}  // namespace mosaic
