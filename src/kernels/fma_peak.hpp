// The CPU's own arithmetic ceiling: fused multiply-adds on registers only, no loads or stores,
// on every thread at once. OpenBLAS's sgemm is not a ceiling where it runs kernels narrower
// than the CPU (Haswell kernels on a Zen 5 made our AVX-512 code measure 97-114% "of the
// ceiling"); this one is the machine's, at the vector width asked for.
#pragma once
#include <utility>
#include <vector>

#include "kernels/cpu_target.hpp"

namespace mosaic {

// GFLOP/s (an FMA is 2 flops per lane) of `target`'s widest fused multiply-add on every OpenMP
// thread, the best of `rounds` timed rounds of 15-30 ms each. Error if the CPU lacks it.
double fma_peak_gflops(SimdTarget target, int rounds = 5);
// The peak at every vector width the CPU has (AVX2; AVX-512 where present), narrowest first:
// a CPU that splits 512-bit operations in two (Zen 4) peaks as high at either width.
std::vector<std::pair<SimdTarget, double>> fma_peaks(int rounds = 5);

}  // namespace mosaic
