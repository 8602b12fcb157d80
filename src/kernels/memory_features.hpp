// Raw loops of the Memory Mosaic feature extractors, over one sequence of T rows of C
// channels (head h owns channels [h*hs, (h+1)*hs)). Per-head scalar inputs are arrays of H.
// Each backward accumulates into its outputs. Not layers: no parameters, no caches.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/scratch.hpp"

namespace mosaic {

struct ChannelValues;  // scratch tags (core/scratch.hpp)
struct ChannelSums;

// A per-head value spread over that head's channels, so the channel loops below index it
// directly (no c / hs in the loop, which keeps them vectorised). In this thread's scratch.
template <class F>
const F* channel_values(const F* per_head, int C, int hs) {
  F* out = thread_scratch<F, ChannelValues>(C);
  for (int c = 0; c < C; ++c) out[c] = per_head[c / hs];
  return out;
}

// C zeros in this thread's scratch, for per-channel sums.
template <class F>
F* channel_sums(int C) {
  F* out = thread_scratch<F, ChannelSums>(C);
  std::fill(out, out + C, F(0));
  return out;
}

// Leaky average as a linear scan: y_t = x_t + decay_h * y_{t-1}, with y_{-1} = prev (a
// streaming state: the last row of the previous call) or 0 when prev is null.
// O(T C), where the reference builds a T x T matrix of decay^(t-j).
template <class F>
void leaky_average_forward(F* y, const F* x, const F* decay, int T, int C, int hs, const F* prev = nullptr) {
  const F* __restrict d = channel_values(decay, C, hs);
  for (int t = 0; t < T; ++t) {
    const F* __restrict xt = x + static_cast<int64_t>(t) * C;
    const F* __restrict before = t ? y + static_cast<int64_t>(t - 1) * C : prev;
    F* __restrict yt = y + static_cast<int64_t>(t) * C;
    if (before)
      for (int c = 0; c < C; ++c) yt[c] = xt[c] + d[c] * before[c];
    else
      for (int c = 0; c < C; ++c) yt[c] = xt[c];
  }
}

// Reverse scan g_t = dy_t + decay * g_{t+1}; dx_t = g_t; d decay_h = sum_t g_t . y_{t-1}.
// g is a T x C scratch, not dx (the loops assume no aliasing); y in the forward is not x.
template <class F>
void leaky_average_backward(F* dx, F* ddecay, F* g, const F* dy, const F* y, const F* decay, int T, int C,
                            int hs) {
  const F* __restrict d = channel_values(decay, C, hs);
  for (int c = 0; c < C; ++c) g[static_cast<int64_t>(T - 1) * C + c] = dy[static_cast<int64_t>(T - 1) * C + c];
  for (int t = T - 2; t >= 0; --t) {
    const F* __restrict dyt = dy + static_cast<int64_t>(t) * C;
    const F* __restrict gnext = g + static_cast<int64_t>(t + 1) * C;
    F* __restrict gt = g + static_cast<int64_t>(t) * C;
    for (int c = 0; c < C; ++c) gt[c] = dyt[c] + d[c] * gnext[c];
  }
  F* __restrict acc = channel_sums<F>(C);  // per channel first: the loop over t vectorises over c
  for (int t = 0; t < T; ++t) {
    const F* __restrict gt = g + static_cast<int64_t>(t) * C;
    F* __restrict dxt = dx + static_cast<int64_t>(t) * C;
    for (int c = 0; c < C; ++c) dxt[c] += gt[c];
    if (t == 0) continue;
    const F* __restrict prev = y + static_cast<int64_t>(t - 1) * C;
    for (int c = 0; c < C; ++c) acc[c] += gt[c] * prev[c];
  }
  for (int c = 0; c < C; ++c) ddecay[c / hs] += acc[c];
}

// Gated leaky average (Memory Mosaics v2's key extractor): y_t = gate_{t,h} x_t +
// decay_{t,h} y_{t-1}, where gate and decay (T, H) depend on the row; y_{-1} = prev or 0.
template <class F>
void gated_average_forward(F* y, const F* x, const F* gate, const F* decay, int T, int C, int hs,
                           const F* prev = nullptr) {
  const int H = C / hs;
  for (int t = 0; t < T; ++t) {
    const F* __restrict xt = x + static_cast<int64_t>(t) * C;
    const F* __restrict before = t ? y + static_cast<int64_t>(t - 1) * C : prev;
    F* __restrict yt = y + static_cast<int64_t>(t) * C;
    for (int h = 0; h < H; ++h) {
      const F g = gate[static_cast<int64_t>(t) * H + h], d = decay[static_cast<int64_t>(t) * H + h];
      for (int c = h * hs; c < (h + 1) * hs; ++c) yt[c] = g * xt[c] + (before ? d * before[c] : F(0));
    }
  }
}

// Reverse scan a_t = dy_t + decay_{t+1} a_{t+1}; dx_t += gate_t a_t; dgate_{t,h} += a_t . x_t
// and ddecay_{t,h} += a_t . y_{t-1} over the head's channels (y_{-1} = 0). a: T x C scratch.
template <class F>
void gated_average_backward(F* dx, F* dgate, F* ddecay, F* a, const F* dy, const F* x, const F* y, const F* gate,
                            const F* decay, int T, int C, int hs) {
  const int H = C / hs;
  for (int t = T - 1; t >= 0; --t) {
    const F* __restrict dyt = dy + static_cast<int64_t>(t) * C;
    const F* __restrict anext = t + 1 < T ? a + static_cast<int64_t>(t + 1) * C : nullptr;
    F* __restrict at = a + static_cast<int64_t>(t) * C;
    for (int h = 0; h < H; ++h) {
      const F d = anext ? decay[static_cast<int64_t>(t + 1) * H + h] : F(0);
      for (int c = h * hs; c < (h + 1) * hs; ++c) at[c] = dyt[c] + (anext ? d * anext[c] : F(0));
    }
  }
  for (int t = 0; t < T; ++t) {
    const F* at = a + static_cast<int64_t>(t) * C;
    const F* xt = x + static_cast<int64_t>(t) * C;
    F* dxt = dx + static_cast<int64_t>(t) * C;
    for (int h = 0; h < H; ++h) {
      const int64_t th = static_cast<int64_t>(t) * H + h;
      F sum_x = 0, sum_y = 0;
      for (int c = h * hs; c < (h + 1) * hs; ++c) {
        dxt[c] += gate[th] * at[c];
        sum_x += at[c] * xt[c];
        if (t) sum_y += at[c] * y[static_cast<int64_t>(t - 1) * C + c];
      }
      dgate[th] += sum_x;
      ddecay[th] += sum_y;
    }
  }
}

// One-step look-ahead: y_t = (1 - mix_h) x_{t+1} + mix_h x_t, with x_T = 0. y is not x.
template <class F>
void lookahead_forward(F* y, const F* x, const F* mix, int T, int C, int hs) {
  const F* __restrict m = channel_values(mix, C, hs);
  for (int t = 0; t < T; ++t) {
    const F* __restrict xt = x + static_cast<int64_t>(t) * C;
    F* __restrict yt = y + static_cast<int64_t>(t) * C;
    if (t + 1 < T)
      for (int c = 0; c < C; ++c) yt[c] = (F(1) - m[c]) * xt[C + c] + m[c] * xt[c];
    else
      for (int c = 0; c < C; ++c) yt[c] = m[c] * xt[c];
  }
}

// dx is not dy or x.
template <class F>
void lookahead_backward(F* dx, F* dmix, const F* dy, const F* x, const F* mix, int T, int C, int hs) {
  const F* __restrict m = channel_values(mix, C, hs);
  F* __restrict acc = channel_sums<F>(C);  // per channel first, then per head
  for (int t = 0; t < T; ++t) {
    const F* __restrict xt = x + static_cast<int64_t>(t) * C;
    const F* __restrict dyt = dy + static_cast<int64_t>(t) * C;
    F* __restrict dxt = dx + static_cast<int64_t>(t) * C;
    for (int c = 0; c < C; ++c) dxt[c] += m[c] * dyt[c];
    if (t + 1 < T) {
      for (int c = 0; c < C; ++c) {
        acc[c] += dyt[c] * (xt[c] - xt[C + c]);
        dxt[C + c] += (F(1) - m[c]) * dyt[c];
      }
    } else {
      for (int c = 0; c < C; ++c) acc[c] += dyt[c] * xt[c];
    }
  }
  for (int c = 0; c < C; ++c) dmix[c / hs] += acc[c];
}

// The reference's epsilon in x / (|x| + eps): a zero row gives y = 0 instead of NaN.
inline constexpr double kNormEpsilon = 1e-10;

// Per head: y = x / (|x| + kNormEpsilon) * scale_h. Saves |x| per (row, head) in norm (T x H).
template <class F>
void normalize_scale_forward(F* y, F* norm, const F* x, const F* scale, int T, int C, int hs) {
  const int H = C / hs;
  for (int64_t r = 0; r < static_cast<int64_t>(T) * H; ++r) {
    const F* xr = x + r * hs;  // rows of C split into H contiguous heads: (t, h) is row t*H+h
    F* yr = y + r * hs;
    double ss = 0;
    for (int d = 0; d < hs; ++d) ss += static_cast<double>(xr[d]) * xr[d];
    F n = static_cast<F>(std::sqrt(ss));
    norm[r] = n;
    F f = scale[r % H] / (n + F(kNormEpsilon));
    for (int d = 0; d < hs; ++d) yr[d] = xr[d] * f;
  }
}

// Given dy, accumulates dx and dlogscale_h += sum(dy * y): the caller multiplies the latter by
// d log(scale) / d param (e.g. 10 for exp(10 p)).
template <class F>
void normalize_scale_backward(F* dx, F* dlogscale, const F* dy, const F* y, const F* x, const F* norm,
                              const F* scale, int T, int C, int hs) {
  const int H = C / hs;
  for (int64_t r = 0; r < static_cast<int64_t>(T) * H; ++r) {
    const F* xr = x + r * hs;
    const F* yr = y + r * hs;
    const F* dyr = dy + r * hs;
    F* dxr = dx + r * hs;
    const int h = static_cast<int>(r % H);
    const F n = norm[r], s = scale[h], denom = n + F(kNormEpsilon);
    double dot_yy = 0, dot_xu = 0;  // dy.y for the scale; dy.x for the normalisation
    for (int d = 0; d < hs; ++d) {
      dot_yy += static_cast<double>(dyr[d]) * yr[d];
      dot_xu += static_cast<double>(dyr[d]) * xr[d];
    }
    dlogscale[h] += static_cast<F>(dot_yy);
    // u = x / (n + e): du/dx = I / (n+e) - x x^T / (n (n+e)^2); the second term is 0 at x = 0.
    const F a = s / denom;
    const F b = n > F(0) ? static_cast<F>(s * dot_xu / (n * denom * denom)) : F(0);
    for (int d = 0; d < hs; ++d) dxr[d] += a * dyr[d] - b * xr[d];
  }
}

}  // namespace mosaic
