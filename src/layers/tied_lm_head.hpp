// Output head tied to the token embedding, fused with the cross-entropy loss:
// logits = x wte^T, loss = mean over targets != -1 of -log softmax(logits)[target].
// With targets the (N, V) logits never sit in memory whole: rows go through in chunks
// (logits gemm, cross-entropy and, when a backward will follow, its two gradient gemms),
// and the gradients wait, unscaled, for backward's loss_scale.
// Shapes: x (N, C); wte (V, C); logits (N, V); targets (N).
#pragma once
#include <cstdint>

#include "core/buffer.hpp"
#include "core/step_profile.hpp"
#include "layers/embedding.hpp"

namespace mosaic {

template <class F>
struct TiedLmHead {
  Embedding<F>* wte = nullptr;  // shared weight (the reference ties lm_head.weight to wte.weight)
  StepProfile* profile = nullptr;
  int64_t rows_per_chunk = 0;   // 0: ~16M logits per chunk (tests set a few rows)

  // cache
  int64_t N = 0;
  bool logits_kept = false, grads_ready = false;
  Buffer<F> logits;            // (N, V) without targets; one chunk (rows, V) of scratch with them
  Buffer<F> row_loss;          // (N)
  Buffer<F> dx_unscaled;       // d loss / d x (N, C), made by a forward with want_grad
  Buffer<F> dwte_unscaled;     // d loss / d wte (V, C), idem
  Buffer<F> dx_slabs;          // (slabs, chunk rows, C): the vocabulary slabs' shares of dx

  // Without targets (null): keeps the logits and returns 0. With targets: returns the mean
  // loss and, if want_grad, prepares backward.
  F forward(const F* x, int64_t rows, const int32_t* targets, bool want_grad);
  // d(loss_scale * loss): accumulates into dx and wte's grad.
  void backward(F loss_scale, F* dx);
};

}  // namespace mosaic
