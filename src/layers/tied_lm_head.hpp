// Output head tied to the token embedding, fused with the cross-entropy loss:
// logits = x wte^T, loss = mean over targets != -1 of -log softmax(logits)[target].
// Shapes: x (N, C); wte (V, C); logits (N, V); targets (N).
#pragma once
#include <cstdint>

#include "core/buffer.hpp"
#include "layers/embedding.hpp"

namespace mosaic {

template <class F>
struct TiedLmHead {
  Embedding<F>* wte = nullptr;  // shared weight (the reference ties lm_head.weight to wte.weight)

  // cache
  const F* x = nullptr;
  const int32_t* targets = nullptr;
  int64_t N = 0, counted = 0;
  Buffer<F> logits, row_loss, row_max, row_sum;  // (N, V), (N), (N), (N)
  Buffer<F> scratch;  // (threads, V)

  // Computes logits; with targets (else null) returns the mean loss, without returns 0.
  F forward(const F* input, int64_t rows, const int32_t* target_ids);
  // d(loss_scale * loss): accumulates into dx and wte's grad. Overwrites logits with dlogits,
  // so logits are gone after backward.
  void backward(F loss_scale, F* dx);
};

}  // namespace mosaic
