// Three-moons kernels: 3x3 complex mat-vecs and one row of contextual-memory attention
// (forward, then its backward right below). Raw loops over structure-of-arrays memories;
// not a general attention and not thread-aware. Shapes: H heads, HD = 3/H complex dims per
// head, a memory of n (key, value) pairs stored as 6 component rows of `stride` entries.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "kernels/vector_math.hpp"

namespace mosaic::three_moons {

// exp for the softmax: the project's vectorisable exp_approx (kernels/vector_math.hpp).
using ::mosaic::exp_approx;

// ---- 3x3 complex matrices, stored [row][col][re, im]; vectors [3][re, im] ----------------

// y = W x
template <class F>
inline void cmatvec(const F* W, const F* x, F* y) {
  for (int i = 0; i < 3; ++i) {
    F re = 0, im = 0;
    for (int j = 0; j < 3; ++j) {
      const F wr = W[(i * 3 + j) * 2], wi = W[(i * 3 + j) * 2 + 1];
      re += wr * x[2 * j] - wi * x[2 * j + 1];
      im += wr * x[2 * j + 1] + wi * x[2 * j];
    }
    y[2 * i] = re;
    y[2 * i + 1] = im;
  }
}
// y = W^H x (conjugate transpose): the input gradient of y = W x.
template <class F>
inline void cmatvec_h(const F* W, const F* x, F* y) {
  for (int j = 0; j < 3; ++j) {
    F re = 0, im = 0;
    for (int i = 0; i < 3; ++i) {
      const F wr = W[(i * 3 + j) * 2], wi = W[(i * 3 + j) * 2 + 1];
      re += wr * x[2 * i] + wi * x[2 * i + 1];
      im += wr * x[2 * i + 1] - wi * x[2 * i];
    }
    y[2 * j] = re;
    y[2 * j + 1] = im;
  }
}
// dW += dy conj(x)^T: the weight gradient of y = W x for a real loss (d/dRe, d/dIm per entry).
template <class A, class F>
inline void couter_acc(A* dW, const F* dy, const F* x) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const A gr = dy[2 * i], gi = dy[2 * i + 1], xr = x[2 * j], xi = x[2 * j + 1];
      dW[(i * 3 + j) * 2] += gr * xr + gi * xi;
      dW[(i * 3 + j) * 2 + 1] += gi * xr - gr * xi;
    }
}

// ---- one attention row ------------------------------------------------------------------
// Memory: K and V hold 6 component rows, K[c * stride + j] for pair j < n. Head h owns the
// W = 2 * 3/H components [W h, W (h+1)). For query q (6 reals) and each head:
//   a_j = softmax_j(beta q_h . K_h[j]) = P_h[j] * inv_z_h,  y_h = sum_j a_j V_h[j].

// Calls fn(0), ..., fn(W-1) as straight-line code: inner loops over components written this
// way let GCC vectorize the outer `omp simd` loop over memory pairs (a plain inner loop does not).
template <int W, class Fn>
inline __attribute__((always_inline)) void for_c(Fn&& fn) {
  [&]<int... c>(std::integer_sequence<int, c...>) { (fn(c), ...); }(std::make_integer_sequence<int, W>{});
}

// Writes y (6), the unnormalised weights P[h * n + j] = exp(beta q_h . K_h[j] - max) (H x n)
// and their normalisers inv_z[h] (H); the backward reuses both. n = 0 gives y = 0 (the first
// position has no memory).
template <class F, int H>
inline void attend_row(const F* q, const F* K, const F* V, int stride, int n, F beta, F* P, F* y, F* inv_z) {
  constexpr int W = 2 * (3 / H);  // reals per head
  for (int h = 0; h < H; ++h) {
    const F* Kh = K + W * h * stride;
    const F* Vh = V + W * h * stride;
    F* S = P + h * n;
    F qh[W];
    for_c<W>([&](int c) { qh[c] = q[W * h + c]; });
    if (n == 0) {
      for_c<W>([&](int c) { y[W * h + c] = 0; });
      inv_z[h] = 0;
      continue;
    }
    F m = -std::numeric_limits<F>::infinity();
#pragma omp simd reduction(max : m)
    for (int j = 0; j < n; ++j) {
      F s = 0;
      for_c<W>([&](int c) { s += qh[c] * Kh[c * stride + j]; });
      s *= beta;
      S[j] = s;
      m = s > m ? s : m;
    }
    F z = 0;
#pragma omp simd reduction(+ : z)
    for (int j = 0; j < n; ++j) {
      const F p = exp_approx(S[j] - m);
      S[j] = p;
      z += p;
    }
    inv_z[h] = F(1) / z;
    for (int c = 0; c < W; ++c) {
      F a = 0;
      const F* Vc = Vh + c * stride;
#pragma omp simd reduction(+ : a)
      for (int j = 0; j < n; ++j) a += S[j] * Vc[j];
      y[W * h + c] = a * inv_z[h];
    }
  }
}

// Backward of attend_row for row query q = K[:, t] with n = t pairs: given dy (6) and the
// forward's y, P and inv_z, ACCUMULATES into dq (6), dK[:, j] and dV[:, j] for j < n. G is
// scratch of n entries. Per head, with a_j = P_h[j] inv_z_h and D = dy . y:
//   dV_j += a_j dy,  g_j = beta a_j (dy . V_j - D),  dK_j += g_j q,  dq += sum_j g_j K_j.
template <class F, int H>
inline void attend_row_backward(const F* q, const F* K, const F* V, int stride, int n, F beta, const F* y,
                                const F* P, const F* inv_z, const F* dy, F* dq, F* dK, F* dV, F* G) {
  constexpr int W = 2 * (3 / H);  // reals per head
  for (int h = 0; h < H; ++h) {
    F qh[W], dyh[W], D = 0;
    bool any = false;
    for_c<W>([&](int c) {
      qh[c] = q[W * h + c];
      dyh[c] = dy[W * h + c];
      D += dyh[c] * y[W * h + c];
      any = any || dyh[c] != 0;
    });
    if (n == 0 || !any) continue;  // every term below is a multiple of dy
    const F* Kh = K + W * h * stride;
    const F* Vh = V + W * h * stride;
    F* dKh = dK + W * h * stride;
    F* dVh = dV + W * h * stride;
    const F* Ph = P + h * n;
    const F iz = inv_z[h];
#pragma omp simd
    for (int j = 0; j < n; ++j) {
      F dp = 0;
      for_c<W>([&](int c) { dp += dyh[c] * Vh[c * stride + j]; });
      const F a = Ph[j] * iz;
      const F g = beta * a * (dp - D);
      G[j] = g;
      for_c<W>([&](int c) {
        dKh[c * stride + j] += g * qh[c];
        dVh[c * stride + j] += a * dyh[c];
      });
    }
    for (int c = 0; c < W; ++c) {
      F acc = 0;
      const F* Kc = Kh + c * stride;
#pragma omp simd reduction(+ : acc)
      for (int j = 0; j < n; ++j) acc += G[j] * Kc[j];
      dq[W * h + c] += acc;
    }
  }
}

}  // namespace mosaic::three_moons
