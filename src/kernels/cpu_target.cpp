// The dispatch target: the CPU's widest, or MOSAIC_SIMD's.
#include "kernels/cpu_target.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/error.hpp"

namespace mosaic {

SimdTarget best_simd_target() {
  static const SimdTarget best = [] {
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    return avx512 ? SimdTarget::avx512 : SimdTarget::avx2;
  }();
  return best;
}

static SimdTarget target_from_environment() {
  const char* forced = std::getenv("MOSAIC_SIMD");
  if (!forced || !*forced) return best_simd_target();
  if (std::strcmp(forced, "avx2") == 0) return SimdTarget::avx2;
  MOSAIC_CHECK(std::strcmp(forced, "avx512") == 0, std::string("MOSAIC_SIMD=") + forced + " is not a target",
               "use MOSAIC_SIMD=avx2 or avx512, or unset it for the CPU's widest");
  MOSAIC_CHECK(best_simd_target() == SimdTarget::avx512, "MOSAIC_SIMD=avx512 but this CPU has no AVX-512",
               "unset MOSAIC_SIMD");
  return SimdTarget::avx512;
}

static SimdTarget& current_target() {
  static SimdTarget target = target_from_environment();
  return target;
}

SimdTarget simd_target() { return current_target(); }

void set_simd_target(SimdTarget target) {
  MOSAIC_CHECK(target == SimdTarget::avx2 || best_simd_target() == SimdTarget::avx512,
               "this CPU has no AVX-512", "use the avx2 target");
  current_target() = target;
}

const char* simd_target_name(SimdTarget target) { return target == SimdTarget::avx512 ? "avx512" : "avx2"; }

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("model name")) {
      const auto colon = line.find(':');
      if (colon != std::string::npos && colon + 2 <= line.size()) return line.substr(colon + 2);
    }
  return "unknown CPU";
}

}  // namespace mosaic
