// One-row linear algebra for streaming inference, the single-token counterpart of gemm:
// dot, y = W x, y += W^T p. Not BLAS: OpenBLAS's sgemm with one row is ~3x slower than these
// loops here, and sgemv would be a second BLAS entry point. Written with GCC/Clang vector
// extensions (8 floats, compiled to AVX2 or NEON), in a fixed order, so results are the same
// on every run. Shapes: W (rows, cols) row-major; x (cols); y (rows); p (rows).
#pragma once
#include <cstdint>
#include <cstring>
#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace mosaic {

namespace simd {

typedef float f8 __attribute__((vector_size(32)));
typedef uint16_t u16x8 __attribute__((vector_size(16)));
typedef uint32_t u32x8 __attribute__((vector_size(32)));

inline f8 load(const float* p) {
  f8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, f8 v) { std::memcpy(p, &v, sizeof v); }
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
inline float sum(f8 v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
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

// Two accumulators, so consecutive adds do not wait on each other.
inline float dot(const float* a, const float* b, int n) {
  simd::f8 s0 = {}, s1 = {};
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 += simd::load(a + i) * simd::load(b + i);
    s1 += simd::load(a + i + 8) * simd::load(b + i + 8);
  }
  for (; i + 8 <= n; i += 8) s0 += simd::load(a + i) * simd::load(b + i);
  float s = simd::sum(s0 + s1);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Four rows at a time share each load of x: for matrices that sit in cache (the 128 x 128
// projections, the stored keys of a head), where the loop, not memory, is the limit.
inline void matvec_rows4(float* y, const float* W, const float* x, int rows, int cols) {
  int r = 0;
  const int c8 = cols / 8 * 8;
  for (; r + 4 <= rows; r += 4) {
    const float* w0 = W + static_cast<int64_t>(r) * cols;
    const float *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    simd::f8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (int c = 0; c < c8; c += 8) {
      const simd::f8 xv = simd::load(x + c);
      a0 += simd::load(w0 + c) * xv;
      a1 += simd::load(w1 + c) * xv;
      a2 += simd::load(w2 + c) * xv;
      a3 += simd::load(w3 + c) * xv;
    }
    float s[4] = {simd::sum(a0), simd::sum(a1), simd::sum(a2), simd::sum(a3)};
    for (int c = c8; c < cols; ++c) {
      s[0] += w0[c] * x[c];
      s[1] += w1[c] * x[c];
      s[2] += w2[c] * x[c];
      s[3] += w3[c] * x[c];
    }
    std::memcpy(y + r, s, sizeof s);
  }
  for (; r < rows; ++r) y[r] = dot(W + static_cast<int64_t>(r) * cols, x, cols);
}

// y = W x one row at a time with `dot`, prefetching a few rows ahead, rows split over
// `threads` (a thread team costs microseconds: not worth it for small matrices). For
// matrices that stream from memory (the vocabulary projection: 25 MB at d=128).
inline void matvec_streamed(float* y, const float* W, const float* x, int rows, int cols, int threads = 1) {
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int r = 0; r < rows; ++r) {
    const float* w = W + static_cast<int64_t>(r) * cols;
    for (int c = 0; c < cols; c += 16) __builtin_prefetch(w + 16 * cols + c);  // 16 rows ahead
    y[r] = dot(w, x, cols);
  }
}

// y = W x (+ bias when not null): in-cache matrices four rows at a time, larger ones streamed.
inline void matvec(float* y, const float* W, const float* x, const float* bias, int rows, int cols, int threads = 1) {
  const bool large = static_cast<int64_t>(rows) * cols > (1 << 18);  // > 1 MiB: beyond L2
  if (large)
    matvec_streamed(y, W, x, rows, cols, threads);
  else
    matvec_rows4(y, W, x, rows, cols);
  if (bias)
    for (int r = 0; r < rows; ++r) y[r] += bias[r];
}

// y = W x for W in bfloat16 (rows, cols), rows and cols multiples of 8, accumulating in float:
// half the bytes of the float matrix, for the memory-bound vocabulary projection. Eight rows at
// a time share each load of x, and their eight sums are reduced together. Rows split over
// `threads` as in matvec.
inline void matvec_bf16(float* y, const uint16_t* W, const float* x, int rows, int cols, int threads = 1) {
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int r = 0; r < rows; r += 8) {
    const uint16_t* w = W + static_cast<int64_t>(r) * cols;
    simd::f8 a[8] = {};
    for (int c = 0; c < cols; c += 8) {
      const simd::f8 xv = simd::load(x + c);
      for (int j = 0; j < 8; ++j) a[j] += simd::load_bf16(w + j * cols + c) * xv;
    }
    simd::store(y + r, simd::sum8(a));
  }
}

// y += sum_r p_r W_r: a probability-weighted sum of rows (attention read-out). Columns in
// blocks of 32 held in registers across all rows.
inline void add_weighted_rows(float* y, const float* W, const float* p, int rows, int cols) {
  int c0 = 0;
  for (; c0 + 32 <= cols; c0 += 32) {
    simd::f8 a0 = simd::load(y + c0), a1 = simd::load(y + c0 + 8), a2 = simd::load(y + c0 + 16),
             a3 = simd::load(y + c0 + 24);
    for (int r = 0; r < rows; ++r) {
      const float* w = W + static_cast<int64_t>(r) * cols + c0;
      const simd::f8 pr = {p[r], p[r], p[r], p[r], p[r], p[r], p[r], p[r]};
      a0 += pr * simd::load(w);
      a1 += pr * simd::load(w + 8);
      a2 += pr * simd::load(w + 16);
      a3 += pr * simd::load(w + 24);
    }
    simd::store(y + c0, a0);
    simd::store(y + c0 + 8, a1);
    simd::store(y + c0 + 16, a2);
    simd::store(y + c0 + 24, a3);
  }
  for (int r = 0; r < rows; ++r) {
    const float pr = p[r];
    const float* w = W + static_cast<int64_t>(r) * cols;
    for (int c = c0; c < cols; ++c) y[c] += pr * w[c];
  }
}

}  // namespace mosaic
