// Three-moons kernels: 3x3 complex mat-vecs and one row of contextual-memory attention
// (forward, then its backward right below). Raw loops over structure-of-arrays memories;
// not a general attention and not thread-aware. Shapes: H heads, HD = 3/H complex dims per
// head, a memory of n (key, value) pairs stored as 6 component rows of `stride` entries.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace mosaic::three_moons {

// exp for the softmax: float uses a branch-free Cephes-style polynomial (about 2 ulp on
// [-87, 88]) that GCC vectorizes inside `omp simd` loops without -ffast-math; double (the
// gradient tests) uses std::exp. Arguments here are <= 0 up to rounding, and anything below
// -87 becomes ~1e-38, which is 0 for every sum it enters.
inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return y * std::bit_cast<float>(bits);
}
inline double exp_approx(double x) { return std::exp(x); }

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
// components [2 h HD, 2 (h+1) HD). For query q (6 reals) and each head:
//   a_j = softmax_j(beta q_h . K_h[j]),  y_h = sum_j a_j V_h[j],  lse_h = log sum_j exp(beta q_h . K_h[j]).
// S is scratch of n entries. n = 0 gives y = 0 (the first position has no memory).
template <class F, int H>
inline void attend_row(const F* q, const F* K, const F* V, int stride, int n, F beta, F* S, F* y, F* lse) {
  constexpr int HD = 3 / H;
  for (int h = 0; h < H; ++h) {
    const int c0 = 2 * HD * h;
    if (n == 0) {
      for (int c = c0; c < c0 + 2 * HD; ++c) y[c] = 0;
      lse[h] = 0;
      continue;
    }
    F m = -std::numeric_limits<F>::infinity();
#pragma omp simd reduction(max : m)
    for (int j = 0; j < n; ++j) {
      F s = 0;
      for (int c = c0; c < c0 + 2 * HD; ++c) s += q[c] * K[c * stride + j];
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
    for (int c = c0; c < c0 + 2 * HD; ++c) {
      F a = 0;
      const F* Vc = V + c * stride;
#pragma omp simd reduction(+ : a)
      for (int j = 0; j < n; ++j) a += S[j] * Vc[j];
      y[c] = a / z;
    }
    lse[h] = m + std::log(z);
  }
}

// Backward of attend_row for row query q = K[:, t] with n = t pairs: given dy (6) and the
// forward's y and lse, ACCUMULATES into dq (6), dK[:, j] and dV[:, j] for j < n. P and G are
// scratch of n entries. Per head, with p_j the softmax weights and D = dy . y:
//   dV_j += p_j dy,  g_j = beta p_j (dy . V_j - D),  dq += sum_j g_j K_j,  dK_j += g_j q.
template <class F, int H>
inline void attend_row_backward(const F* q, const F* K, const F* V, int stride, int n, F beta, const F* y,
                                const F* lse, const F* dy, F* dq, F* dK, F* dV, F* P, F* G) {
  constexpr int HD = 3 / H;
  for (int h = 0; h < H; ++h) {
    const int c0 = 2 * HD * h, c1 = c0 + 2 * HD;
    F D = 0;
    bool any = false;
    for (int c = c0; c < c1; ++c) {
      D += dy[c] * y[c];
      any = any || dy[c] != 0;
    }
    if (n == 0 || !any) continue;  // every term below is a multiple of dy
    const F l = lse[h];
#pragma omp simd
    for (int j = 0; j < n; ++j) {
      F s = 0, dp = 0;
      for (int c = c0; c < c1; ++c) {
        s += q[c] * K[c * stride + j];
        dp += dy[c] * V[c * stride + j];
      }
      s *= beta;
      const F p = exp_approx(s - l);
      P[j] = p;
      G[j] = beta * p * (dp - D);
    }
    for (int c = c0; c < c1; ++c) {
      F a = 0;
      const F qc = q[c], dyc = dy[c];
      const F* Kc = K + c * stride;
      F* dKc = dK + c * stride;
      F* dVc = dV + c * stride;
#pragma omp simd reduction(+ : a)
      for (int j = 0; j < n; ++j) {
        a += G[j] * Kc[j];
        dKc[j] += G[j] * qc;
        dVc[j] += P[j] * dyc;
      }
      dq[c] += a;
    }
  }
}

}  // namespace mosaic::three_moons
