// Softmax attention over one (sequence, head) slice, forward and backward, on gemm.
// Shared by GPT's causal self-attention (query i sees keys j <= i) and the contextual
// memory (j < i: the diagonal is excluded because a value has seen the next token).
// Not a layer: no parameters, the caller owns every buffer. T×T probabilities are kept;
// a row with no visible key gives y = 0 (the memory's first position).
// Shapes: q, k, v, dq, dk, dv: T rows of hs with row stride ld; y, dy: T x hs with stride ldy;
// probs, scratch: T x T contiguous.
#pragma once

#include "kernels/gemm.hpp"
#include "kernels/softmax.hpp"

namespace mosaic {

enum class Visible { UpToSelf, BeforeSelf };  // j <= i (causal)  or  j < i (diagonal excluded)

inline int visible_keys(Visible mask, int i) { return mask == Visible::UpToSelf ? i + 1 : i; }

template <class F>
void attention_forward(F* y, int ldy, F* probs, const F* q, const F* k, const F* v, int ld, int T, int hs,
                       F scale, Visible mask) {
  gemm<F>(Op::N, Op::T, T, T, hs, scale, q, ld, k, ld, F(0), probs, T);
  for (int i = 0; i < T; ++i) softmax_prefix(probs + static_cast<int64_t>(i) * T, visible_keys(mask, i), T);
  gemm<F>(Op::N, Op::N, T, hs, T, F(1), probs, T, v, ld, F(0), y, ldy);
}

// Accumulates into dq, dk, dv. They may alias (the memory uses its keys as queries, so it
// passes dq == dk): each gemm adds its share in turn.
template <class F>
void attention_backward(F* dq, F* dk, F* dv, F* scratch, const F* dy, int ldy, const F* probs, const F* q,
                        const F* k, const F* v, int ld, int T, int hs, F scale, Visible mask) {
  // dv += P^T dy ; dP = dy v^T ; dS = softmax backward ; dq += scale dS k ; dk += scale dS^T q
  gemm<F>(Op::T, Op::N, T, hs, T, F(1), probs, T, dy, ldy, F(1), dv, ld);
  gemm<F>(Op::N, Op::T, T, T, hs, F(1), dy, ldy, v, ld, F(0), scratch, T);
  for (int i = 0; i < T; ++i) {
    int64_t r = static_cast<int64_t>(i) * T;
    softmax_prefix_backward(scratch + r, probs + r, visible_keys(mask, i), T);
  }
  gemm<F>(Op::N, Op::N, T, hs, T, scale, scratch, T, k, ld, F(1), dq, ld);
  gemm<F>(Op::T, Op::N, T, hs, T, scale, scratch, T, q, ld, F(1), dk, ld);
}

}  // namespace mosaic
