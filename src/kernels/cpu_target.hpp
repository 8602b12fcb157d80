// Which vector width the dispatching kernels use: AVX2 (8 floats) on every x86-64 we build
// for, AVX-512 (16 floats) where the CPU has AVX-512F/BW/DQ/VL. Chosen once per process from
// the CPU, or forced with MOSAIC_SIMD=avx2 (to run the AVX2 path on an AVX-512 machine, as an
// AVX2-only CPU would); tests switch it with set_simd_target. A kernel with a per-target body
// compiles one wrapper with MOSAIC_TARGET_AVX512 and one without, and calls simd_target().
#pragma once
#include <string>

// GCC and Clang compile a function so marked for AVX-512 whatever the file's flags; the
// always-inline bodies it calls are compiled along with it.
#define MOSAIC_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

namespace mosaic {

enum class SimdTarget { avx2, avx512 };

SimdTarget simd_target();
// The widest target the CPU supports (whatever MOSAIC_SIMD says).
SimdTarget best_simd_target();
// For tests and benchmarks: an Error if the CPU lacks it. Takes effect at the next kernel call
// (the tied head packs its panels for the current target in every forward; its buffer fits
// either).
void set_simd_target(SimdTarget target);
const char* simd_target_name(SimdTarget target);
// The CPU's model name from /proc/cpuinfo ("unknown CPU" where there is none).
std::string cpu_model_name();

}  // namespace mosaic
