// The kernel bandwidth of a Memory Mosaics v2 memory (arXiv 2507.03285, eq. 6 and table 6): per
// head, the beta of softmax(beta k . k_i) for a query that sees n pairs. Adaptive:
// beta = beta1 n^alpha + beta0, with beta0 = exp(min(t0, 10)), beta1 = exp(min(t1, 10)),
// alpha = min(|ta|, 1) (init t0 = t1 = 1.5, ta = 1/3): more pairs, a narrower kernel, as
// kernel regression's bias-variance trade-off asks. Fixed (the ablation): beta = beta1 + beta0,
// n^alpha replaced by 1 and no alpha. Not the retrieval itself: the memory scales its queries
// by beta and calls the attention kernel with scale 1.
// Shapes: beta0, beta1, alpha (H); per-row betas and their gradients (rows, H).
#pragma once
#include <string>

#include "core/param_table.hpp"

namespace mosaic {

template <class F>
struct Bandwidth {
  int H = 0;
  bool adaptive = true;
  Param<F> beta0, beta1, alpha;  // t0, t1, ta of the reparameterisation (alpha only when adaptive)

  Bandwidth() = default;
  Bandwidth(int n_head, bool adaptive_) : H(n_head), adaptive(adaptive_) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);

  // beta of head h for a query that sees n >= 0 pairs (n = 0: nothing is retrieved anyway).
  F beta(int h, int n) const;
  // Accumulates the parameter grads of head h given dbeta[r] = d loss / d beta(h, counts[r]).
  void backward(int h, const F* dbeta, const int* counts, int rows);
};

}  // namespace mosaic
