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
// Layout: W (V, C) row-major; panels = W packed a group of words at a time as
// [group][C][words] (zero rows past V), so the logits tile reads a group's weights with two
// contiguous vector loads per k; a group is 16 words with AVX2 and 32 with AVX-512
// (kernels/cpu_target.hpp). C must be a multiple of 16 (the dx tile is 6 rows x 16 or 32
// columns of x).
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/scratch.hpp"
#include "kernels/cpu_target.hpp"
#include "kernels/simd.hpp"
#include "kernels/small_gemm.hpp"
#include "kernels/vector_math.hpp"

namespace mosaic {

namespace vocab_softmax_detail {

using small_gemm_detail::kRows;  // the 6-row register tile of kernels/small_gemm.hpp
using small_gemm_detail::multiply_tile;
using small_gemm_detail::RowPointers;
constexpr int kBlockWords = 128;  // words per block: its panels and W rows stay in L2

// Words per tile, and per packed group: two vectors.
template <class V>
constexpr int kWords = small_gemm_detail::kCols<V>;

// E (rows x words of one group) = exp(x panel - shift); lane_sums (rows x kLanes<V>) += the
// stored values, lane by lane.
template <class V>
MOSAIC_INLINE void exp_logits_tile(float* e, int64_t lde, const RowPointers& x, int C, const float* panel,
                                   const float* shift, int rows, int words, float* lane_sums) {
  constexpr int L = simd::kLanes<V>, W = kWords<V>;
  V acc[kRows][2] = {};
  multiply_tile<V>(acc, x, panel, W, C);
  for (int r = 0; r < rows; ++r) {
    const V s = simd::splat<V>(shift[r]);
    const V e0 = exp_float_lanes<V, simd::UintOf<V>>(acc[r][0] - s);
    const V e1 = exp_float_lanes<V, simd::UintOf<V>>(acc[r][1] - s);
    float* er = e + r * lde;
    if (words == W) {
      simd::store(er, e0);
      simd::store(er + L, e1);
      simd::store(lane_sums + r * L, simd::load<V>(lane_sums + r * L) + e0 + e1);
    } else {  // the vocabulary's last, partial group
      float out[W];
      simd::store(out, e0);
      simd::store(out + L, e1);
      for (int j = 0; j < words; ++j) er[j] = out[j];
      for (int j = words; j < W; ++j) out[j] = 0.0f;
      simd::store(lane_sums + r * L, simd::load<V>(lane_sums + r * L) + simd::load<V>(out) + simd::load<V>(out + L));
    }
  }
}

// dx (rows x C) += E (rows x words) W (words x C), in tiles of kWords<V> columns (C must be a
// multiple of that).
template <class V>
MOSAIC_INLINE void accumulate_dx_tile(float* dx, int C, const RowPointers& e, const float* W, int words, int rows) {
  constexpr int L = simd::kLanes<V>;
  for (int c = 0; c < C; c += kWords<V>) {
    V acc[kRows][2] = {};
    multiply_tile<V>(acc, e, W + c, C, words);
    for (int r = 0; r < rows; ++r) {
      float* d = dx + r * C + c;
      simd::store(d, simd::load<V>(d) + acc[r][0]);
      simd::store(d + L, simd::load<V>(d + L) + acc[r][1]);
    }
  }
}

struct LaneSums {};

// exp_logits_slab's body at vector type V (its comment below).
template <class V>
MOSAIC_INLINE void exp_logits_slab(float* e, float* sums, float* dx_raw, const float* x, int rows, int C,
                                   const float* panels, const float* W, int V_words, int64_t g0, int64_t g1,
                                   const float* shift, const int32_t* targets, float* target_e) {
  constexpr int kw = kWords<V>, block_groups = kBlockWords / kw;
  // Floats, not V: a heap buffer of V made by AVX2 code is only 32-byte aligned.
  constexpr int L = simd::kLanes<V>;
  float* lane_sums = thread_scratch<float, LaneSums>(static_cast<size_t>(rows) * L);
  std::fill_n(lane_sums, static_cast<size_t>(rows) * L, 0.0f);
  for (int64_t b0 = g0; b0 < g1; b0 += block_groups) {
    const int64_t b1 = std::min(g1, b0 + block_groups);
    const int64_t v0 = b0 * kw;
    const int words = static_cast<int>(std::min<int64_t>(b1 * kw, V_words) - v0);
    for (int i = 0; i < rows; i += kRows) {
      const int n = std::min(kRows, rows - i);
      const RowPointers xr(x + static_cast<int64_t>(i) * C, C, n);
      float* ei = e + static_cast<int64_t>(i) * V_words;
      for (int64_t g = b0; g < b1; ++g) {
        const int gw = static_cast<int>(std::min<int64_t>(kw, V_words - g * kw));
        exp_logits_tile<V>(ei + g * kw, V_words, xr, C, panels + g * C * kw, shift + i, n, gw, lane_sums + i * L);
      }
      if (targets)  // the targets' exponentials leave E (after the sums) for target_e
        for (int r = 0; r < n; ++r) {
          const int64_t t = targets[i + r];
          if (t < v0 || t >= v0 + words) continue;
          target_e[i + r] = ei[r * static_cast<int64_t>(V_words) + t];
          ei[r * static_cast<int64_t>(V_words) + t] = 0.0f;
        }
      if (dx_raw) {
        const RowPointers er(ei + v0, V_words, n);
        if (C % kw == 0) accumulate_dx_tile<V>(dx_raw + static_cast<int64_t>(i) * C, C, er, W + v0 * C, words, n);
        else accumulate_dx_tile<simd::f8>(dx_raw + static_cast<int64_t>(i) * C, C, er, W + v0 * C, words, n);
      }
    }
  }
  for (int i = 0; i < rows; ++i) sums[i] = simd::sum(simd::load<V>(lane_sums + i * L));
}

MOSAIC_TARGET_AVX512 inline void exp_logits_slab_avx512(float* e, float* sums, float* dx_raw, const float* x, int rows,
                                                        int C, const float* panels, const float* W, int V, int64_t g0,
                                                        int64_t g1, const float* shift, const int32_t* targets,
                                                        float* target_e) {
  exp_logits_slab<simd::f16>(e, sums, dx_raw, x, rows, C, panels, W, V, g0, g1, shift, targets, target_e);
}

inline void exp_logits_slab_avx2(float* e, float* sums, float* dx_raw, const float* x, int rows, int C,
                                 const float* panels, const float* W, int V, int64_t g0, int64_t g1,
                                 const float* shift, const int32_t* targets, float* target_e) {
  exp_logits_slab<simd::f8>(e, sums, dx_raw, x, rows, C, panels, W, V, g0, g1, shift, targets, target_e);
}

struct DwtePad {};

// dwte (words, C) (+)= E^T x, with E (rows, words of row stride lde) and x given transposed,
// xt (C, rows): made as its transpose, out^T (C, words) = xt E, in tiles of 6 channels x
// kWords<V> words that walk down a strip of E's columns, written transposed. Each strip is
// first copied to a contiguous buffer (zero-padded past the last word), where it stays in L1
// for all C / 6 tiles: read in place, its rows are V floats apart and fall into a few cache
// sets, which evict each other.
template <class V>
MOSAIC_INLINE void accumulate_dwte(float* dwte, int C, const float* xt, const float* E, int64_t lde, int rows,
                                   int words, bool accumulate) {
  constexpr int W = kWords<V>, L = simd::kLanes<V>;
  float* pad = thread_scratch<float, DwtePad>(static_cast<size_t>(rows) * W);
  for (int w0 = 0; w0 < words; w0 += W) {
    const int n = std::min(W, words - w0);
    for (int r = 0; r < rows; ++r) {
      std::copy_n(E + r * lde + w0, n, pad + r * W);
      std::fill_n(pad + r * W + n, W - n, 0.0f);
    }
    for (int c0 = 0; c0 < C; c0 += kRows) {
      const int cn = std::min(kRows, C - c0);
      V acc[kRows][2] = {};
      multiply_tile<V>(acc, RowPointers(xt + static_cast<int64_t>(c0) * rows, rows, cn), pad, W, rows);
      for (int r = 0; r < cn; ++r) {
        float out[W];
        simd::store(out, acc[r][0]);
        simd::store(out + L, acc[r][1]);
        float* d = dwte + static_cast<int64_t>(w0) * C + c0 + r;
        for (int j = 0; j < n; ++j) d[j * C] = accumulate ? d[j * C] + out[j] : out[j];
      }
    }
  }
}

}  // namespace vocab_softmax_detail

// The tied head's d wte from its exponentials (one slab of words, single-threaded): dwte
// (words, C) = E^T x (+ dwte when accumulate), E (rows, words) with row stride lde, x given as
// its transpose xt (C, rows). AVX-512 only: there it runs at ~1.4x OpenBLAS's gemm on these
// shapes, while its 8-lane body ran at ~0.85x (measured, microbench BM_VocabGradW*), so the
// AVX2 target keeps the gemm.
MOSAIC_TARGET_AVX512 inline void accumulate_dwte_avx512(float* dwte, int C, const float* xt, const float* E,
                                                        int64_t lde, int rows, int words, bool accumulate) {
  vocab_softmax_detail::accumulate_dwte<simd::f16>(dwte, C, xt, E, lde, rows, words, accumulate);
}

// Words per packed group on the current target (16 with AVX2, 32 with AVX-512), and the most
// on any target (what a buffer planned before the target is known must hold).
inline int vocab_group_words() {
  return simd_target() == SimdTarget::avx512 ? vocab_softmax_detail::kWords<simd::f16>
                                             : vocab_softmax_detail::kWords<simd::f8>;
}
constexpr int kMaxVocabGroupWords = vocab_softmax_detail::kWords<simd::f16>;

inline int64_t vocab_groups(int V) { return (V + vocab_group_words() - 1) / vocab_group_words(); }

// panels (vocab_groups(V) * C * vocab_group_words()) from W (V, C).
inline void pack_vocab_panels(float* panels, const float* W, int V, int C) {
  const int kw = vocab_group_words();
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
// whatever the threads (for a given target).
inline void exp_logits_slab(float* e, float* sums, float* dx_raw, const float* x, int rows, int C, const float* panels,
                            const float* W, int V, int64_t g0, int64_t g1, const float* shift,
                            const int32_t* targets = nullptr, float* target_e = nullptr) {
  if (simd_target() == SimdTarget::avx512)
    vocab_softmax_detail::exp_logits_slab_avx512(e, sums, dx_raw, x, rows, C, panels, W, V, g0, g1, shift, targets,
                                                 target_e);
  else
    vocab_softmax_detail::exp_logits_slab_avx2(e, sums, dx_raw, x, rows, C, panels, W, V, g0, g1, shift, targets,
                                               target_e);
}

}  // namespace mosaic
