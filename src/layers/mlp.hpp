// GPT-2 MLP: c_fc (C -> 4C), GELU, c_proj (4C -> C). The GPT baseline only; the Memory
// Mosaic uses PersistentMemory instead. forward() runs whole sequences, step() a stream's next
// rows (no state across positions, only scratch). Shapes: x, y (N, C); hidden (N, 4C).
#pragma once
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "layers/linear.hpp"
#include "layers/stream_slices.hpp"

namespace mosaic {

template <class F>
struct Mlp {
  static constexpr const char* kName = "mlp";  // in per-layer timings
  Linear<F> c_fc, c_proj;

  // cache
  int64_t N = 0;
  const F* hidden = nullptr;          // c_fc's output, (N, 4C)
  Activation<F> act, dact, dhidden;   // GELU output and grads, (N, 4C)

  struct Stream {
    std::vector<F> hidden;  // scratch (max_rows, 4C)
    void reset() {}
  };

  Mlp() = default;
  Mlp(int n_embd, bool bias) : c_fc(n_embd, 4 * n_embd, bias), c_proj(4 * n_embd, n_embd, bias) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);

  Stream start_stream(int max_rows) const { return {std::vector<F>(static_cast<size_t>(max_rows) * c_fc.out)}; }
  // y (rows, C) for the streams' next positions x (rows, C), the slices' rows in order
  // (layers/stream_slices.hpp).
  void step(F* y, const F* x, StreamSlices<Stream> slices) const;
  void step(F* y, const F* x, int rows, Stream& s) const {
    const StreamSlice<Stream> one{&s, rows};
    step(y, x, {&one, 1});
  }
};

}  // namespace mosaic
