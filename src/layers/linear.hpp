// Linear layer y = x W^T + b (PyTorch's nn.Linear layout: W is (out, in)).
// Shapes: x (N, in), y (N, out). Not responsible for initialisation (models/init.cpp is).
#pragma once
#include <string>

#include "core/activations.hpp"
#include "core/param_table.hpp"

namespace mosaic {

template <class F>
struct Linear {
  int in = 0, out = 0;
  bool has_bias = true;
  Param<F> weight, bias;  // (out, in), (out)

  // cache
  const F* x = nullptr;  // (N, in), owned by the caller, alive until backward
  int64_t N = 0;
  Activation<F> y;       // (N, out)

  Linear() = default;
  Linear(int in_features, int out_features, bool bias_on) : in(in_features), out(out_features), has_bias(bias_on) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int64_t rows) { acts.add(prefix + "y", {rows, out}, &y); }

  // y = x W^T + b without a cache: the training forward and the streaming step both call it.
  // One row goes through a row loop (sgemm is slow there), more through gemm.
  void apply(F* y_out, const F* input, int64_t rows) const;
  // apply for a streaming step (layers/stream_slices.hpp): one stream's rows as apply; the rows
  // of several streams each through the one-row loop, so a stream's result is the same bits
  // whatever streams step beside it (the weights, read once, serve every row from cache).
  void apply_step(F* y_out, const F* input, int rows, size_t streams) const {
    if (streams == 1) return apply(y_out, input, rows);
#pragma omp parallel for schedule(static) if (rows >= 4)
    for (int r = 0; r < rows; ++r) apply(y_out + static_cast<int64_t>(r) * out, input + static_cast<int64_t>(r) * in, 1);
  }
  const F* forward(const F* input, int64_t rows);
  // Accumulates into the parameter grads and, when dx is not null, into dx (N, in).
  void backward(const F* dy, F* dx);
};

}  // namespace mosaic
