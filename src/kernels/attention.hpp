// Softmax attention over one (sequence, head) slice, forward and backward, on gemm.
// Shared by GPT's causal self-attention (query i sees keys j <= i) and the contextual
// memory (j < i: the diagonal is excluded because a value has seen the next token).
// Not a layer: no parameters, the caller owns every buffer. Query rows go in tiles of `tile`:
// a tile's products span only the keys its rows can see (Visible: from the first row's first to
// the last row's last), so the masked upper triangle is skipped (62% of the full T x T work at
// T = 256, 56% at T = 512), and so is everything outside a band; the tile's columns of each
// row's probabilities are kept for the backward pass (other columns are never written or
// read). A row with no visible key gives y = 0 (the memory's first position).
// Shapes: q, k, v, dq, dk, dv: T rows of hs with row stride ld; y, dy: T x hs with stride ldy;
// probs, scratch: T x T contiguous. attention_row: one query over n stored rows (streaming);
// attention_prefix_rows: a chunk of queries, each over a prefix of the stored rows (prompts).
#pragma once
#include <algorithm>
#include <type_traits>

#include "kernels/dropout.hpp"
#include "kernels/gemm.hpp"
#include "kernels/matvec.hpp"
#include "kernels/softmax.hpp"

namespace mosaic {

// Which keys query row i sees: j >= 0 with min_lag <= i - j <= max_lag. GPT's causal rows see
// j <= i (UpToSelf); a contextual memory's stop at j = i - 1 (BeforeSelf: v_i has seen token
// i + 1); Memory Mosaics v2's short-term memory sees a band of the last h - 1 pairs
// (lags 1 .. h - 1) and its long-term memory the pairs at least m old (lags m ..).
struct Visible {
  static constexpr int kUnbounded = 1 << 30;
  int min_lag = 0;
  int max_lag = kUnbounded;
  static const Visible UpToSelf, BeforeSelf;

  int first(int i) const { return std::max(0, i - max_lag); }       // first key row i sees
  int end(int i) const { return std::max(0, i - min_lag + 1); }     // one past its last
  int count(int i) const { return std::max(0, end(i) - first(i)); }
  friend bool operator==(const Visible&, const Visible&) = default;
};
inline constexpr Visible Visible::UpToSelf{0, Visible::kUnbounded};
inline constexpr Visible Visible::BeforeSelf{1, Visible::kUnbounded};

constexpr int kAttentionTile = 64;  // query rows per tile

// What some callers add to plain softmax attention. ALiBi (alibi_slope != 0): the score of
// query i on key j gets -slope * (i - j) before the softmax (a constant: nothing changes in the
// backward pass). Dropout on the probabilities (drop active): y = (P * mask) v, the dropped rows
// written to `dropped` (T x T, the backward's scratch, free during the forward); probs keeps P.
template <class F>
struct AttentionOptions {
  double alibi_slope = 0;
  const Dropout* drop = nullptr;
  uint64_t slice = 0;      // the dropout mask's (sequence, head)
  F* dropped = nullptr;
  int tile = kAttentionTile;
};

template <class F>
void attention_forward(F* y, int ldy, F* probs, const F* q, const F* k, const F* v, int ld, int T, int hs,
                       F scale, Visible mask, const AttentionOptions<F>& o = {}) {
  const bool dropping = o.drop && o.drop->active();
  for (int r0 = 0; r0 < T; r0 += o.tile) {
    const int rows = std::min(o.tile, T - r0);
    const int c0 = mask.first(r0), c1 = std::max(c0, mask.end(r0 + rows - 1)), keys = c1 - c0;  // the tile's columns
    F* yt = y + static_cast<int64_t>(r0) * ldy;
    if (keys == 0) {  // no row of the tile sees a key
      for (int i = 0; i < rows; ++i) std::fill(yt + static_cast<int64_t>(i) * ldy, yt + static_cast<int64_t>(i) * ldy + hs, F(0));
      continue;
    }
    F* p = probs + static_cast<int64_t>(r0) * T + c0;
    gemm<F>(Op::N, Op::T, rows, keys, hs, scale, q + static_cast<int64_t>(r0) * ld, ld, k + static_cast<int64_t>(c0) * ld, ld,
            F(0), p, T);
    for (int i = 0; i < rows; ++i) {
      F* row = p + static_cast<int64_t>(i) * T;
      const int lo = mask.first(r0 + i) - c0, hi = std::max(lo, mask.end(r0 + i) - c0);
      if (o.alibi_slope != 0)
        for (int j = lo; j < hi; ++j) row[j] -= static_cast<F>(o.alibi_slope * (r0 + i - c0 - j));
      std::fill(row, row + lo, F(0));
      softmax_prefix(row + lo, hi - lo, keys - lo);
    }
    const F* read = p;
    if (dropping) {
      F* pd = o.dropped + static_cast<int64_t>(r0) * T + c0;
      o.drop->apply(pd, T, p, T, rows, keys, o.slice, r0);
      read = pd;
    }
    gemm<F>(Op::N, Op::N, rows, hs, keys, F(1), read, T, v + static_cast<int64_t>(c0) * ld, ld, F(0), yt, ldy);
  }
}

// Accumulates into dq, dk, dv. They may alias (the memory uses its keys as queries, so it
// passes dq == dk): each gemm adds its share in turn.
template <class F>
void attention_backward(F* dq, F* dk, F* dv, F* scratch, const F* dy, int ldy, const F* probs, const F* q,
                        const F* k, const F* v, int ld, int T, int hs, F scale, Visible mask,
                        const AttentionOptions<F>& o = {}) {
  // per tile: dv += P^T dy ; dP = dy v^T ; dS = softmax backward ; dq += scale dS k ; dk += scale dS^T q
  // (with dropout, P * mask in the first product and dP * mask into the softmax backward)
  const Dropout* drop = o.drop;
  const uint64_t slice = o.slice;
  const bool dropping = drop && drop->active();
  for (int r0 = 0; r0 < T; r0 += o.tile) {
    const int rows = std::min(o.tile, T - r0);
    const int c0 = mask.first(r0), c1 = std::max(c0, mask.end(r0 + rows - 1)), keys = c1 - c0;
    if (keys == 0) continue;
    const F* p = probs + static_cast<int64_t>(r0) * T + c0;
    F* ds = scratch + static_cast<int64_t>(r0) * T + c0;
    const F* dy_tile = dy + static_cast<int64_t>(r0) * ldy;
    const int64_t kc = static_cast<int64_t>(c0) * ld;
    if (dropping) drop->apply(ds, T, p, T, rows, keys, slice, r0);  // the forward's dropped rows, again
    gemm<F>(Op::T, Op::N, keys, hs, rows, F(1), dropping ? ds : p, T, dy_tile, ldy, F(1), dv + kc, ld);
    gemm<F>(Op::N, Op::T, rows, keys, hs, F(1), dy_tile, ldy, v + kc, ld, F(0), ds, T);
    if (dropping) drop->apply(ds, T, ds, T, rows, keys, slice, r0);
    for (int i = 0; i < rows; ++i) {
      F* row = ds + static_cast<int64_t>(i) * T;
      const int lo = mask.first(r0 + i) - c0, hi = std::max(lo, mask.end(r0 + i) - c0);
      std::fill(row, row + lo, F(0));
      softmax_prefix_backward(row + lo, p + static_cast<int64_t>(i) * T + lo, hi - lo, keys - lo);
    }
    gemm<F>(Op::N, Op::N, rows, hs, keys, scale, ds, T, k + kc, ld, F(1), dq + static_cast<int64_t>(r0) * ld, ld);
    gemm<F>(Op::T, Op::N, keys, hs, rows, scale, ds, T, q + static_cast<int64_t>(r0) * ld, ld, F(1), dk + kc, ld);
  }
}

// One query against n stored pairs, the streaming step of both models: y = sum_j
// softmax_j(scale q . k_j) v_j, y = 0 when n = 0. Row dots instead of gemm (one row is too
// thin for it); float64 (the streaming tests) takes plain loops. scores (n): scratch, the
// attention weights afterwards. ALiBi: the query is the position of the last key (GPT's
// causal row), key j lies n - 1 - j before it.
// Shapes: q, y (hs); keys, values (n, hs) contiguous.
template <class F>
void attention_row(F* y, F* scores, const F* q, const F* keys, const F* values, int n, int hs, F scale,
                   double alibi_slope = 0) {
  std::fill(y, y + hs, F(0));
  if (n == 0) return;
  if constexpr (std::is_same_v<F, float>) {
    matvec(scores, keys, q, nullptr, n, hs);
  } else {
    for (int j = 0; j < n; ++j) {
      F s = 0;
      for (int d = 0; d < hs; ++d) s += keys[static_cast<int64_t>(j) * hs + d] * q[d];
      scores[j] = s;
    }
  }
  if (scale != F(1))
    for (int j = 0; j < n; ++j) scores[j] *= scale;
  if (alibi_slope != 0)
    for (int j = 0; j < n; ++j) scores[j] -= static_cast<F>(alibi_slope * (n - 1 - j));
  softmax_prefix(scores, n, n);
  if constexpr (std::is_same_v<F, float>) {
    add_weighted_rows(y, values, scores, n, hs);
  } else {
    for (int j = 0; j < n; ++j)
      for (int d = 0; d < hs; ++d) y[d] += scores[j] * values[static_cast<int64_t>(j) * hs + d];
  }
}

// A chunk of queries over stored pairs that arrived in order (a prompt read in a stream): query
// r reads the first counts[r] rows (counts non-decreasing), y_r = sum_j softmax_j(scales[r]
// q_r . k_j) v_j, y_r = 0 when counts[r] = 0; what attention_row gives each row, up to rounding,
// with the products on gemm. Rows go in tiles whose scores fit `budget` entries of scratch, which
// must hold one row (budget >= counts[rows-1]); visit(r, weights, counts[r]) sees each row's
// weights once they are final.
// Shapes: q (rows, hs) stride ldq; y (rows, hs) stride ldy; keys, values (counts[rows-1], hs).
template <class F, class Visit>
void attention_prefix_rows(F* y, int ldy, F* scratch, int64_t budget, const F* q, int ldq, const F* keys,
                           const F* values, const int* counts, const F* scales, int rows, int hs, Visit&& visit) {
  const int widest = rows > 0 ? std::max(1, counts[rows - 1]) : 1;
  const int tile = static_cast<int>(std::clamp<int64_t>(budget / widest, 1, std::max(rows, 1)));
  for (int r0 = 0; r0 < rows; r0 += tile) {
    const int m = std::min(tile, rows - r0), n = counts[r0 + m - 1];
    F* yt = y + static_cast<int64_t>(r0) * ldy;
    if (n == 0) {
      for (int i = 0; i < m; ++i) std::fill(yt + static_cast<int64_t>(i) * ldy, yt + static_cast<int64_t>(i) * ldy + hs, F(0));
      continue;
    }
    gemm<F>(Op::N, Op::T, m, n, hs, F(1), q + static_cast<int64_t>(r0) * ldq, ldq, keys, hs, F(0), scratch, n);
    for (int i = 0; i < m; ++i) {
      F* row = scratch + static_cast<int64_t>(i) * n;
      const int seen = counts[r0 + i];
      if (scales[r0 + i] != F(1))
        for (int j = 0; j < seen; ++j) row[j] *= scales[r0 + i];
      softmax_prefix(row, seen, n);
      visit(r0 + i, static_cast<const F*>(row), seen);
    }
    gemm<F>(Op::N, Op::N, m, hs, n, F(1), scratch, n, values, hs, F(0), yt, ldy);
  }
}

}  // namespace mosaic
