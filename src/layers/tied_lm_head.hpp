// Output head tied to the token embedding, fused with the cross-entropy loss:
// logits = x wte^T, loss = mean over targets != -1 of -log softmax(logits)[target].
// With targets the (N, V) logits never sit in memory whole: rows go through in chunks
// (logits, softmax and, when a backward will follow, both gradients), and the gradients
// wait, unscaled, for backward's loss_scale. tied_lm_head.cpp explains the two paths.
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
  bool generic_path = false;    // tests: the gemm + softmax path even where the fused kernel applies

  // cache
  int64_t N = 0;
  bool logits_kept = false, grads_ready = false;
  Buffer<F> logits;            // (N, V) without targets; one chunk (rows, V) of scratch with them
                               // (the fused kernel's exponentials, or the generic path's logits)
  Buffer<F> row_loss;          // (N)
  Buffer<F> dx_unscaled;       // d loss / d x (N, C), made by a forward with want_grad
  Buffer<F> dwte_unscaled;     // d loss / d wte (V, C), idem
  Buffer<F> dx_slabs;          // (slabs, chunk rows, C): the vocabulary slabs' shares of dx
  // fused kernel only
  Buffer<F> panels;            // wte packed 16 words at a time (kernels/vocab_softmax.hpp)
  Buffer<F> shift_words;       // (32, C): rows of wte spread over the vocabulary
  Buffer<F> shift_logits;      // (chunk rows, 32): their logits
  Buffer<F> target_logit;      // (chunk rows)
  Buffer<F> target_e;          // (chunk rows): the target's exponential, kept out of E
  Buffer<F> target_coef;       // (chunk rows): g (p_target - 1), the target's gradient coefficient
  Buffer<F> row_shift;         // (chunk rows): the exponentials' shift, one of the row's logits
  Buffer<F> slab_sums;         // (slabs, chunk rows): each slab's sum of exponentials
  Buffer<F> row_factor;        // (chunk rows): grad scale / row sum, 0 for ignored rows
  int64_t rows_redone = 0;     // rows of the last forward redone with their max (tests)

  // Without targets (null): keeps the logits and returns 0. With targets: returns the mean
  // loss and, if want_grad, prepares backward.
  F forward(const F* x, int64_t rows, const int32_t* targets, bool want_grad);
  // d(loss_scale * loss): accumulates into dx and wte's grad.
  void backward(F loss_scale, F* dx);
  bool uses_fused_kernel() const;

 private:
  void generic_chunk(const F* xc, const int32_t* targets, int rows, int64_t r0, int64_t R, F grad_scale, bool want_grad);
  void fused_chunk(const F* xc, const int32_t* targets, int rows, int64_t r0, int64_t R, F grad_scale, bool want_grad);
  double redo_row_exactly(const F* x_row, int32_t t, int i, int64_t R, bool want_grad);
};

}  // namespace mosaic
