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
// Pairwise sums of neighbours: (a0+a1, a2+a3, b0+b1, b2+b3, a4+a5, a6+a7, b4+b5, b6+b7).
inline f8 hadd(f8 a, f8 b) {
  return __builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14) + __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15);
}
// The eight lane sums of a[0..7], as one vector.
inline f8 sum8(const f8* a) {
  const f8 t0 = hadd(hadd(a[0], a[1]), hadd(a[2], a[3]));  // rows 0-3: low-half sums, then high-half sums
  const f8 t1 = hadd(hadd(a[4], a[5]), hadd(a[6], a[7]));
  return __builtin_shufflevector(t0, t1, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(t0, t1, 4, 5, 6, 7, 12, 13, 14, 15);
}

}  // namespace simd

}  // namespace mosaic
