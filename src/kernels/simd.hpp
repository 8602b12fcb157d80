// Float vectors with GCC/Clang vector extensions: 8 lanes (f8, AVX2) for every kernel, and 16
// lanes (f16, AVX-512) for the kernels that dispatch on the CPU (kernels/cpu_target.hpp):
// their bodies are templates on the vector type, always inlined into one wrapper per target,
// so each wrapper is compiled for its own instruction set. Unaligned loads and stores go
// through memcpy, which compiles to one vector move.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>
#ifdef __AVX2__
#include <immintrin.h>
#endif

// Kernel bodies that must be compiled for their caller's target.
#define MOSAIC_INLINE inline __attribute__((always_inline))

namespace mosaic {

namespace simd {

typedef float f8 __attribute__((vector_size(32)));
typedef float f16 __attribute__((vector_size(64)));
typedef uint16_t u16x8 __attribute__((vector_size(16)));
typedef uint32_t u32x8 __attribute__((vector_size(32)));
typedef uint32_t u32x16 __attribute__((vector_size(64)));

template <class V>
constexpr int kLanes = sizeof(V) / sizeof(float);
// The unsigned vector of V's shape (for the exponential's bit tricks).
template <class V>
using UintOf = std::conditional_t<kLanes<V> == 8, u32x8, u32x16>;

template <class V = f8>
MOSAIC_INLINE V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
MOSAIC_INLINE void store(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}
// Every lane x, as lane 0 shuffled to all: one vbroadcastss from memory. (V{} + x kept a
// scalar add before each broadcast, since 0 + -0 is +0: 12% off the gemm tiles; GCC 12 builds
// a 16-lane initializer list or x - V{} lane by lane with masks: 6x slower.)
template <class V = f8>
MOSAIC_INLINE V splat(float x) {
  const V v = {x};
  if constexpr (kLanes<V> == 8)
    return __builtin_shufflevector(v, v, 0, 0, 0, 0, 0, 0, 0, 0);
  else
    return __builtin_shufflevector(v, v, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}
// 8 bfloat16 values widened to float: a bf16 is the high half of the float's bits.
inline f8 load_bf16(const uint16_t* p) {
#ifdef __AVX2__  // one vpmovzxwd from memory; GCC 12 splits the generic form into halves
  const __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16);
#else
  u16x8 h;
  std::memcpy(&h, p, sizeof h);
  const u32x8 w = __builtin_convertvector(h, u32x8) << 16;
#endif
  f8 v;
  std::memcpy(&v, &w, sizeof v);
  return v;
}
MOSAIC_INLINE float sum(f8 v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}
// 16 lanes folded to 8 first: the same pairing at every width (lane l with lane l + 8).
MOSAIC_INLINE float sum(f16 v) {
  return sum(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
             __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15));
}

}  // namespace simd

}  // namespace mosaic
