// Output head tied to the token embedding, fused with the cross-entropy loss:
// logits = x wte^T, loss = mean over targets != -1 of -log softmax(logits)[target].
// The loss pass makes its gradients during the forward pass (the (N, V) logits never sit in
// memory whole: rows go through in chunks, logits, softmax and both gradients at once); they
// wait, unscaled, for add_grads' loss_scale. tied_lm_head.cpp explains the two paths.
// Shapes: x (N, C); wte (V, C); logits (N, V); targets (N).
#pragma once
#include <cstdint>
#include <string>

#include "core/activations.hpp"
#include "core/step_profile.hpp"
#include "layers/embedding.hpp"

namespace mosaic {

// How the loss pass runs; the defaults are what models use. Tests and benchmarks set them to
// reach the chunk boundaries and the generic path at small sizes.
struct LmHeadOptions {
  int64_t rows_per_chunk = 0;  // 0: ~16M logits per chunk
  bool fused = true;           // false: the gemm + softmax path even where the fused kernel applies
};

template <class F>
struct TiedLmHead {
  Embedding<F>* wte = nullptr;  // shared weight (the reference ties lm_head.weight to wte.weight)
  LmHeadOptions options;
  StepProfile* profile = nullptr;

  // cache
  int64_t N = 0;
  bool logits_kept = false, losses_kept = false, grads_ready = false;
  Activation<F> logits;         // (N, V) from logits_of(); one chunk (rows, V) of scratch in loss()
                                // (the fused kernel's exponentials, or the generic path's logits)
  Activation<F> row_loss;       // (N)
  Activation<F> dx_from_forward;    // d loss / d x (N, C), made by loss() with make_grads
  Activation<F> dwte_from_forward;  // d loss / d wte (V, C), idem
  Activation<F> dx_slabs;       // (slabs, chunk rows, C): the vocabulary slabs' shares of dx
  // fused kernel only
  Activation<F> panels;         // wte packed 16 words at a time (kernels/vocab_softmax.hpp)
  Activation<F> shift_words;    // (32, C): rows of wte spread over the vocabulary
  Activation<F> shift_logits;   // (chunk rows, 32): their logits
  Activation<F> target_logit;   // (chunk rows)
  Activation<F> target_e;       // (chunk rows): the target's exponential, kept out of E
  Activation<F> target_coef;    // (chunk rows): g (p_target - 1), the target's gradient coefficient
  Activation<F> row_shift;      // (chunk rows): the exponentials' shift, one of the row's logits
  Activation<F> slab_sums;      // (slabs, chunk rows): each slab's sum of exponentials
  Activation<F> row_factor;     // (chunk rows): grad scale / row sum, 0 for ignored rows
  int64_t rows_redone = 0;      // rows of the last loss pass redone with their max (tests)

  TiedLmHead() = default;
  explicit TiedLmHead(Embedding<F>* tied, LmHeadOptions opts = {}) : wte(tied), options(opts) {}
  // rows: of a loss pass; logits_rows: of a logits pass (0 when the model runs none).
  void plan(Activations<F>& acts, const std::string& prefix, int64_t rows, int64_t logits_rows);

  // The (rows, V) logits of x, kept in `logits`.
  const F* logits_of(const F* x, int64_t rows);
  // The mean loss over targets != -1; with make_grads, also the loss's gradients (see above).
  F loss(const F* x, int64_t rows, const int32_t* targets, bool make_grads);
  // d(loss_scale * loss) of the last loss pass with make_grads: accumulates into dx and wte's grad.
  void add_grads(F loss_scale, F* dx);
  bool uses_fused_kernel() const;

 private:
  int64_t chunk_rows(int64_t rows) const;
  void generic_chunk(const F* xc, const int32_t* targets, int rows, int64_t r0, int64_t R, F grad_scale, bool make_grads);
  void fused_chunk(const F* xc, const int32_t* targets, int rows, int64_t r0, int64_t R, F grad_scale, bool make_grads);
  double redo_row_exactly(const F* x_row, int32_t t, int i, int64_t R, bool make_grads);
};

}  // namespace mosaic
