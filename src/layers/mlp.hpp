// GPT-2 MLP: c_fc (C -> 4C), GELU, c_proj (4C -> C). The GPT baseline only; the Memory
// Mosaic uses PersistentMemory instead. Shapes: x, y (N, C); hidden (N, 4C).
#pragma once
#include <string>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "layers/linear.hpp"

namespace mosaic {

template <class F>
struct Mlp {
  static constexpr const char* kName = "mlp";  // in per-layer timings
  Linear<F> c_fc, c_proj;

  // cache
  int64_t N = 0;
  const F* hidden = nullptr;          // c_fc's output, (N, 4C)
  Activation<F> act, dact, dhidden;   // GELU output and grads, (N, 4C)

  Mlp() = default;
  Mlp(int n_embd, bool bias) : c_fc(n_embd, 4 * n_embd, bias), c_proj(4 * n_embd, n_embd, bias) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  // The streaming step: y (rows, C) without a cache; scratch (rows, 4C).
  void apply(F* y, const F* x, int64_t rows, F* scratch) const;
  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);
};

}  // namespace mosaic
