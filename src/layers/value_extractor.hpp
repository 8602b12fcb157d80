// Value feature extractor of the contextual memory (reference: ValFeatureExtractor): it peeks
// one step ahead. v~ = W_v x; vbar_t = (1 - coef_h) v~_{t+1} + coef_h v~_t (v~_T = 0);
// v = vbar / (|vbar| + 1e-10) * exp(10 val_scale_h).
// Shapes: x, v (B, T, C); coef, val_scale (1, H, 1, 1).
#pragma once
#include <string>

#include "core/buffer.hpp"
#include "core/param_table.hpp"
#include "layers/linear.hpp"

namespace mosaic {

template <class F>
struct ValueExtractor {
  int C = 0, H = 0;
  Linear<F> W_v;
  Param<F> coef, val_scale;

  // cache
  int B = 0, T = 0;
  Buffer<F> vbar, norm, v, scale;      // (B, T, C), (B, T, H), (B, T, C), (H)
  Buffer<F> dvbar, dvt, partial;       // backward scratch; partial (2, B, H)

  ValueExtractor() = default;
  ValueExtractor(int n_embd, int n_head, bool bias) : C(n_embd), H(n_head), W_v(n_embd, n_embd, bias) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);

  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dv, F* dx);
};

}  // namespace mosaic
