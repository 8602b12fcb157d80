// LayerNorm with optional bias (eps 1e-5), as the reference's LayerNorm module, and an optional
// constant factor on its output (the final norm of StackAssoMem, whose logits are scaled by
// 1/sqrt(n_embd): scaling the head's input is the same and keeps the tied head as it is).
// Shapes: x, y (N, C); weight, bias (C).
#pragma once
#include <string>

#include "core/activations.hpp"
#include "core/param_table.hpp"

namespace mosaic {

template <class F>
struct LayerNorm {
  int C = 0;
  bool has_bias = true;
  double out_scale = 1;
  Param<F> weight, bias;

  // cache
  const F* x = nullptr;
  int64_t N = 0;
  Activation<F> y, mean, rstd;  // (N, C), (N), (N)
  Activation<F> dy_scaled;      // (N, C), with out_scale != 1

  LayerNorm() = default;
  LayerNorm(int channels, bool bias_on, double output_scale = 1) : C(channels), has_bias(bias_on), out_scale(output_scale) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int64_t rows);

  // The streaming step: the same rows without a cache, serially (one token must not wake a
  // thread team).
  void apply(F* y_out, const F* input, int64_t rows) const;
  const F* forward(const F* input, int64_t rows);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);
};

}  // namespace mosaic
