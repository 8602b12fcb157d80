// LayerNorm with optional bias (eps 1e-5), as the reference's LayerNorm module.
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
  Param<F> weight, bias;

  // cache
  const F* x = nullptr;
  int64_t N = 0;
  Activation<F> y, mean, rstd;  // (N, C), (N), (N)

  LayerNorm() = default;
  LayerNorm(int channels, bool bias_on) : C(channels), has_bias(bias_on) {}
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
