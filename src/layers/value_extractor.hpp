// Value feature extractor of the contextual memory (reference: ValFeatureExtractor): it peeks
// one step ahead. v~ = W_v x; vbar_t = (1 - coef_h) v~_{t+1} + coef_h v~_t (v~_T = 0);
// v = vbar / (|vbar| + 1e-10) * exp(10 val_scale_h), or with Memory Mosaics v2's
// reparameterisation (`abs_scale`) * exp(min(|val_scale_h|, 15)) (init 0: a scale of 1).
// forward() runs whole sequences for training; step() continues one stream (streaming
// inference), where v_{t-1} is completed when x_t arrives, with the same kernels.
// Shapes: x, v (B, T, C); coef, val_scale (1, H, 1, 1).
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
struct ValueExtractor {
  int C = 0, H = 0;
  bool abs_scale = false;
  Linear<F> W_v;
  Param<F> coef, val_scale;

  // cache
  int B = 0, T = 0;
  const F* vt = nullptr;                   // W_v's output (B, T, C)
  Activation<F> vbar, norm, v, scale;      // (B, T, C), (B, T, H), (B, T, C), (H)
  Activation<F> dvbar, dvt, partial;       // backward scratch; partial (2, B, H)

  // A stream's state: the raw value v~ of its last position (whose value needs the next x),
  // the scales, scratch.
  struct Stream {
    std::vector<F> scale;           // (H)
    std::vector<F> last;            // (C): v~ of the last position
    std::vector<F> vt, window;      // scratch: (rows, C) v~ of the new rows; (1 + rows, C) one stream's [last; new]
    std::vector<F> vbar, norm;      // scratch: (1 + rows, C), (rows, H)
    bool has_last = false;          // false before the first position
    void reset() { has_last = false; }
  };

  ValueExtractor() = default;
  ValueExtractor(int n_embd, int n_head, bool bias, bool abs_scale_ = false)
      : C(n_embd), H(n_head), abs_scale(abs_scale_), W_v(n_embd, n_embd, bias) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  // Per head, from the current parameters: exp(10 val_scale_h) or exp(min(|val_scale_h|, 15)).
  void head_scales(F* scale_out) const;
  double log_scale_slope(F val_scale_h) const;
  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dv, F* dx);

  Stream start_stream(int max_rows) const;
  // Feeds the streams' next positions x (rows, C), the slices' rows in order. Row r of v_out
  // (rows, C) becomes the value of the position before row r in its stream, now complete; a
  // stream's first row holds none when it had no position yet (has_last false before the step).
  void step(F* v_out, const F* x, StreamSlices<Stream> slices) const;
  // One stream; returns the first row that holds a value (1 for a stream's first position, else 0).
  int step(F* v_out, const F* x, int rows, Stream& s) const {
    const int first = s.has_last ? 0 : 1;
    const StreamSlice<Stream> one{&s, rows};
    step(v_out, x, {&one, 1});
    return first;
  }
  // The stream's state (the last position's v~, and whether there is one) under `prefix`.
  void save_stream(const Stream& s, StreamState& out, const std::string& prefix) const;
  void load_stream(Stream& s, const StreamState& in, const std::string& prefix) const;
};

}  // namespace mosaic
