// The tied head's forward and half its backward in one pass over a vocabulary slab, for the
// float training path of layers/tied_lm_head.cpp:
//   E[i][v]   = exp(x_i . w_v - shift_i)          stored (the softmax's unnormalised numerators)
//   sums[i]  += sum over the slab of E[i][v]
//   dx_raw[i] += sum over the slab of E[i][v] w_v   (optional)
// shift_i is any value near row i's largest logit (the caller takes the largest of a few), so
// no max pass over the row is needed before the exponentials, and the row's normalisation
// 1 / sum can be applied after the products (to dx_raw, and to x before d wte = E^T x).
// Why: the logits gemm, the softmax passes and the dx gemm each streamed the (rows x V) chunk
// through memory; here each 6-row x 128-word block of E is made and used while in L1.
// Layout: W (V, C) row-major; panels = W packed 16 words at a time as [group][C][16] (zero
// rows past V), so the logits tile reads 16 words' weights with two contiguous loads per k.
// C must be a multiple of 16 (the dx tile is 6 rows x 16 columns of x).
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/scratch.hpp"
#include "kernels/simd.hpp"
#include "kernels/small_gemm.hpp"
#include "kernels/vector_math.hpp"

namespace mosaic {

namespace vocab_softmax_detail {

using small_gemm_detail::kRows;  // the 6 x 16 register tile of kernels/small_gemm.hpp
using small_gemm_detail::multiply_tile;
using small_gemm_detail::RowPointers;
constexpr int kWords = small_gemm_detail::kCols;  // words per tile, and per packed group
constexpr int kBlockGroups = 8;                   // 128 words per block: panels and W rows of a block stay in L2

using simd::f8;

inline f8 exp8(f8 x) { return exp_float_lanes<f8, simd::u32x8>(x); }

// E (rows x words of one group) = exp(x panel - shift); lane_sums[r] += the stored values.
inline void exp_logits_tile(float* e, int64_t lde, const RowPointers& x, int C, const float* panel, const float* shift,
                            int rows, int words, f8* lane_sums) {
  f8 acc[kRows][2] = {};
  multiply_tile(acc, x, panel, kWords, C);
  for (int r = 0; r < rows; ++r) {
    const f8 s = simd::splat(shift[r]);
    const f8 e0 = exp8(acc[r][0] - s), e1 = exp8(acc[r][1] - s);
    float* er = e + r * lde;
    if (words == kWords) {
      simd::store(er, e0);
      simd::store(er + 8, e1);
      lane_sums[r] += e0 + e1;
    } else {  // the vocabulary's last, partial group
      float out[kWords];
      simd::store(out, e0);
      simd::store(out + 8, e1);
      for (int j = 0; j < words; ++j) er[j] = out[j];
      for (int j = words; j < kWords; ++j) out[j] = 0.0f;
      lane_sums[r] += simd::load(out) + simd::load(out + 8);
    }
  }
}

// dx (rows x C) += E (rows x words) W (words x C), in 16-column tiles.
inline void accumulate_dx_tile(float* dx, int C, const RowPointers& e, const float* W, int words, int rows) {
  for (int c = 0; c < C; c += kWords) {
    f8 acc[kRows][2] = {};
    multiply_tile(acc, e, W + c, C, words);
    for (int r = 0; r < rows; ++r) {
      float* d = dx + r * C + c;
      simd::store(d, simd::load(d) + acc[r][0]);
      simd::store(d + 8, simd::load(d + 8) + acc[r][1]);
    }
  }
}

struct LaneSums {};

}  // namespace vocab_softmax_detail

inline int64_t vocab_groups(int V) { return (V + vocab_softmax_detail::kWords - 1) / vocab_softmax_detail::kWords; }

// panels (vocab_groups(V) * C * 16) from W (V, C).
inline void pack_vocab_panels(float* panels, const float* W, int V, int C) {
  constexpr int kw = vocab_softmax_detail::kWords;
  const int64_t groups = vocab_groups(V);
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < groups; ++g) {
    float* panel = panels + g * C * kw;
    for (int j = 0; j < kw; ++j) {
      const int64_t v = g * kw + j;
      for (int k = 0; k < C; ++k) panel[k * kw + j] = v < V ? W[v * C + k] : 0.0f;
    }
  }
}

// One slab of vocabulary groups [g0, g1) for rows [0, rows) of x (rows, C): writes E into
// e (row stride V, columns of the slab only), sets sums[i] to the slab's sum of row i, and
// adds the slab's E W into dx_raw (rows, C) unless it is null. With targets (-1: none), a
// row's target word in the slab has its exponential moved to target_e[i] and 0 left in E
// (and out of E W), after it was summed: the caller adds the target's term as
// (p_t - 1) w_t, without the cancellation of p_t w_t - w_t when p_t is near 1.
// Single-threaded; the caller runs slabs in parallel. Sums are made in a fixed order,
// whatever the threads.
inline void exp_logits_slab(float* e, float* sums, float* dx_raw, const float* x, int rows, int C, const float* panels,
                            const float* W, int V, int64_t g0, int64_t g1, const float* shift,
                            const int32_t* targets = nullptr, float* target_e = nullptr) {
  using namespace vocab_softmax_detail;
  f8* lane_sums = thread_scratch<f8, LaneSums>(rows);
  for (int i = 0; i < rows; ++i) lane_sums[i] = f8{};
  for (int64_t b0 = g0; b0 < g1; b0 += kBlockGroups) {
    const int64_t b1 = std::min(g1, b0 + kBlockGroups);
    const int64_t v0 = b0 * kWords;
    const int words = static_cast<int>(std::min<int64_t>(b1 * kWords, V) - v0);
    for (int i = 0; i < rows; i += kRows) {
      const int n = std::min(kRows, rows - i);
      const RowPointers xr(x + static_cast<int64_t>(i) * C, C, n);
      float* ei = e + static_cast<int64_t>(i) * V;
      for (int64_t g = b0; g < b1; ++g) {
        const int gw = static_cast<int>(std::min<int64_t>(kWords, V - g * kWords));
        exp_logits_tile(ei + g * kWords, V, xr, C, panels + g * C * kWords, shift + i, n, gw, lane_sums + i);
      }
      if (targets)  // the targets' exponentials leave E (after the sums) for target_e
        for (int r = 0; r < n; ++r) {
          const int64_t t = targets[i + r];
          if (t < v0 || t >= v0 + words) continue;
          target_e[i + r] = ei[r * static_cast<int64_t>(V) + t];
          ei[r * static_cast<int64_t>(V) + t] = 0.0f;
        }
      if (dx_raw)
        accumulate_dx_tile(dx_raw + static_cast<int64_t>(i) * C, C, RowPointers(ei + v0, V, n), W + v0 * C, words, n);
    }
  }
  for (int i = 0; i < rows; ++i) sums[i] = simd::sum(lane_sums[i]);
}

}  // namespace mosaic
