// Vectorisable building blocks for the softmax-heavy loops, without -ffast-math:
//  - exp_approx<float> (exp_float_lanes): Cody-Waite range reduction and Cephes' degree-6 polynomial (relative
//    error < 1e-7 on [-87, 0]; below -87 exactly 0), branch-free and without float-to-int
//    conversions so that loops over it vectorise;
//    exp_approx<double> is std::exp (the float64 gradient tests stay exact).
//  - lane_sum / lane_max: reductions over 16 fixed lanes, so the compiler may vectorise them
//    (it never reassociates a plain `sum +=` loop) and the order stays the same on every run.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace mosaic {

template <class F>
inline F exp_approx(F x) {
  return std::exp(x);
}

// The float exponential on one float or on a vector of floats (V = float, U = uint32_t; or
// GCC vector types of 8 or 16 floats and uint32_t for the kernels that hold values in registers;
// always inlined, so that it is compiled for its caller's target).
template <class V, class U>
__attribute__((always_inline)) inline V exp_float_lanes(V x) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  constexpr bool kScalar = std::is_same_v<V, float>;
  if constexpr (kScalar) x = std::min(x, 88.0f);  // expf overflows above anyway; NaN passes through
  else x = x > 88.0f ? V{} + 88.0f : x;
  const V t = x * 1.44269504088896341f + kMagic;
  const U n_bits = std::bit_cast<U>(t) - std::bit_cast<uint32_t>(kMagic);  // round(x / ln 2)
  const V n = t - kMagic;
  const V r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // x - n ln 2, in two parts
  V p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const V y = (p * r * r + r + 1.0f) * std::bit_cast<V>((n_bits + 127u) << 23);  // times 2^n
  // Underflow (and -inf) to exactly 0 by a bit mask, not a branch; NaN is kept.
  U keep;
  if constexpr (kScalar) keep = 0u - static_cast<uint32_t>(!(x < -87.0f));
  else keep = ~reinterpret_cast<U>(x < -87.0f);
  return std::bit_cast<V>(std::bit_cast<U>(y) & keep);
}

template <>
inline float exp_approx<float>(float x) {
  return exp_float_lanes<float, uint32_t>(x);
}

constexpr int kLanes = 16;

template <class F>
inline F lane_max(const F* x, int n) {
  F lanes[kLanes];
  for (int l = 0; l < kLanes; ++l) lanes[l] = x[0];
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] = std::max(lanes[l], x[j + l]);
  F m = lanes[0];
  for (int l = 1; l < kLanes; ++l) m = std::max(m, lanes[l]);
  for (; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

// The index of the first largest of x[0, n), n >= 1, as std::max_element gives for finite x:
// block maxima on the lanes, then one block scanned (greedy decoding's argmax over a vocabulary).
template <class F>
inline int argmax(const F* x, int n) {
  constexpr int kBlock = 256;
  int first = 0;
  F best = lane_max(x, std::min(n, kBlock));
  for (int b = kBlock; b < n; b += kBlock) {
    const F m = lane_max(x + b, std::min(kBlock, n - b));
    if (m > best) {
      best = m;
      first = b;
    }
  }
  while (x[first] != best) ++first;
  return first;
}

// sum of x[0, n), per lane in F, lanes added in double.
template <class F>
inline double lane_sum(const F* x, int n) {
  F lanes[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] += x[j + l];
  double s = 0;
  for (int l = 0; l < kLanes; ++l) s += lanes[l];
  for (; j < n; ++j) s += x[j];
  return s;
}

// sum of a[j] * b[j], per lane in F, lanes added in double.
template <class F>
inline double lane_dot(const F* a, const F* b, int n) {
  F lanes[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] += a[j + l] * b[j + l];
  double s = 0;
  for (int l = 0; l < kLanes; ++l) s += lanes[l];
  for (; j < n; ++j) s += static_cast<double>(a[j]) * b[j];
  return s;
}

// out[j] = exp(x[j] - shift), returning their sum (as lane_sum would): one pass instead of two.
template <class F>
inline double exp_shifted_sum(F* out, const F* x, int n, F shift) {
  F lanes[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const F e = exp_approx(x[j + l] - shift);
      out[j + l] = e;
      lanes[l] += e;
    }
  double s = 0;
  for (int l = 0; l < kLanes; ++l) s += lanes[l];
  for (; j < n; ++j) s += out[j] = exp_approx(x[j] - shift);
  return s;
}

// out[j] = exp(x[j] - shift): a plain loop, which is what vectorises best.
template <class F>
inline void exp_shifted(F* out, const F* x, int n, F shift) {
#pragma omp simd
  for (int j = 0; j < n; ++j) out[j] = exp_approx(x[j] - shift);
}

}  // namespace mosaic
