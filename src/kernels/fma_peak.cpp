#include "kernels/fma_peak.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "core/error.hpp"

namespace mosaic {

namespace {

// Independent accumulator chains per thread: enough to cover the FMA latency (4 cycles) times
// the FMA ports (2) with room to spare, few enough to stay in registers at either width.
constexpr int kChains = 12;
constexpr long kIterations = 10'000'000;  // per round and thread: 120 M FMAs, 15-30 ms

// Each chain: acc = acc * m + a, with m just below 1 and a small, so the values stay normal
// floats (no denormal slowdown) and the compiler cannot drop the work: the sum is returned.
__attribute__((target("avx2,fma"))) float chains_avx2(long iterations) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(1.0f + 0.01f * c);
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
  for (long i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  alignas(32) float out[8];
  _mm256_store_ps(out, sum);
  return out[0];
}

MOSAIC_TARGET_AVX512 float chains_avx512(long iterations) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.0f + 0.01f * c);
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
  for (long i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  alignas(64) float out[16];
  _mm512_store_ps(out, sum);
  return out[0];
}

}  // namespace

double fma_peak_gflops(SimdTarget target, int rounds) {
  MOSAIC_CHECK(target != SimdTarget::avx512 || best_simd_target() == SimdTarget::avx512,
               "this CPU has no AVX-512", "measure the avx2 peak");
  const int lanes = target == SimdTarget::avx512 ? 16 : 8;
  volatile float sink = 0;  // keeps every thread's result alive
  double best = 0;
  for (int r = 0; r < rounds + 1; ++r) {  // the first round wakes the threads and the clocks
    int threads = 1;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
#pragma omp single
      threads = omp_get_num_threads();
      const float s = target == SimdTarget::avx512 ? chains_avx512(kIterations) : chains_avx2(kIterations);
#pragma omp critical
      sink = sink + s;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double flops = 2.0 * lanes * kChains * static_cast<double>(kIterations) * threads;
    if (r > 0) best = std::max(best, flops / seconds / 1e9);
  }
  return best;
}

std::vector<std::pair<SimdTarget, double>> fma_peaks(int rounds) {
  std::vector<std::pair<SimdTarget, double>> peaks{{SimdTarget::avx2, fma_peak_gflops(SimdTarget::avx2, rounds)}};
  if (best_simd_target() == SimdTarget::avx512) peaks.emplace_back(SimdTarget::avx512, fma_peak_gflops(SimdTarget::avx512, rounds));
  return peaks;
}

}  // namespace mosaic
