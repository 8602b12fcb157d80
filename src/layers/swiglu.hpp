// SwiGLU feed-forward, y = w2(SiLU(w1 x) * w3 x): Memory Mosaics v2's persistent memory (the
// paper's W2(SiLU(W1 x) * W3 x), Llama's feed-forward; a two-layer network and a key-value
// memory are interchangeable, Sukhbaatar et al. 2019). The option `pmem_kind: "swiglu"` of the
// Memory Mosaic, in place of PersistentMemory. forward() runs whole sequences, step() a stream's
// next rows (no state across positions, only scratch).
// Shapes: x, y (N, C); a, b, hidden (N, D) with D the hidden width.
#pragma once
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "core/stream_state.hpp"
#include "layers/linear.hpp"
#include "layers/stream_slices.hpp"

namespace mosaic {

template <class F>
struct SwiGlu {
  static constexpr const char* kName = "persistent memory";  // in per-layer timings
  Linear<F> w1, w2, w3;  // (D, C), (C, D), (D, C)

  // cache
  int64_t N = 0;
  const F *a = nullptr, *b = nullptr;  // w1 x, w3 x (N, D)
  Activation<F> hidden, dhidden, da, db;

  struct Stream {
    std::vector<F> a, b;  // scratch (max_rows, D)
    void reset() {}
  };

  SwiGlu() = default;
  SwiGlu(int n_embd, int hidden_width, bool bias)
      : w1(n_embd, hidden_width, bias), w2(hidden_width, n_embd, bias), w3(n_embd, hidden_width, bias) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);

  Stream start_stream(int max_rows) const;
  // y (rows, C) for the streams' next positions x (rows, C), the slices' rows in order
  // (layers/stream_slices.hpp).
  void step(F* y, const F* x, StreamSlices<Stream> slices) const;
  void step(F* y, const F* x, int rows, Stream& s) const {
    const StreamSlice<Stream> one{&s, rows};
    step(y, x, {&one, 1});
  }
  // Nothing is kept between positions: a memory file holds nothing of it.
  void save_stream(const Stream&, StreamState&, const std::string&) const {}
  void load_stream(Stream&, const StreamState&, const std::string&) const {}
};

}  // namespace mosaic
