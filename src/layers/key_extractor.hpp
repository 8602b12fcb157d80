// Key feature extractor of a Memory Mosaic memory (reference: KeyFeatureExtractor):
// k~ = W_k x; kbar_t = k~_t + exp(-10|beta_h|) kbar_{t-1}; k = kbar / (|kbar| + 1e-10) *
// exp(min(s * 10 * key_scale_h, cap)), with s = 1 (contextual) or 2 (persistent); cap = ln 65535
// (nanoMosaics) or s * kernel_beta_upbound (StackAssoMem: exp(min(10 key_scale, 5))^s).
// Memory Mosaics v2 options: `gated` replaces the fixed decay by the input-dependent gated
// average kbar_t = g_t k~_t + lambda_t kbar_{t-1}, g_t = exp(W_g x_t), lambda_t = exp(-|W_lambda
// x_t|) (scalars per head and step, no bias); `scaled` false drops the key scale (k = Norm(kbar):
// the memory's bandwidth carries the sharpness instead); `fixed_decay` >= 0 freezes the decay of
// every head at that value (no leaky_key_beta).
// forward() runs whole sequences for training; step() continues one stream a few rows at a
// time (streaming inference) with the same kernels.
// Shapes: x, k (B, T, C) with head h in channels [h*hs, (h+1)*hs); key_scale, beta (1, H, 1, 1);
// gate, decay with `gated` (B, T, H).
#pragma once
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "core/stream_state.hpp"
#include "layers/linear.hpp"
#include "layers/stream_slices.hpp"

namespace mosaic {

struct KeyOptions {
  int scale_power = 1;              // s: 1 in the contextual memory, 2 in the persistent memory
  double kernel_beta_upbound = 0;   // 0: nanoMosaics' clamp; else StackAssoMem's (config.hpp)
  bool scaled = true;               // v1: times exp(min(s 10 key_scale, cap)); v2: none
  bool gated = false;               // v2: input-dependent gate and decay
  double fixed_decay = -1;          // >= 0 (not gated): the decay of every head, not a parameter
};

template <class F>
struct KeyExtractor {
  int C = 0, H = 0;
  int scale_power = 1;  // s
  double scale_cap = 0;  // the clamp of the scale's exponent
  bool scaled = true, gated = false;
  double fixed_decay = -1;
  Linear<F> W_k;
  Param<F> key_scale, leaky_key_beta;  // key_scale only when scaled, leaky_key_beta only when learned
  Linear<F> W_g, W_lambda;             // gated: (H, C) each

  // cache
  int B = 0, T = 0;
  Activation<F> kbar, norm, k;   // (B, T, C), (B, T, H), (B, T, C)
  Activation<F> decay, scale;    // (H): exp(-10|beta|), the key scale (its exponent clamped at scale_cap)
  Activation<F> dkbar, dkt, scan, partial;  // backward scratch; partial (2, B, H)
  const F *gate_in = nullptr, *decay_in = nullptr;  // gated: W_g x, W_lambda x (B, T, H)
  Activation<F> gate, step_decay;                   // gated: exp(W_g x), exp(-|W_lambda x|) (B, T, H)
  Activation<F> dgate, ddecay;                      // gated backward scratch (B, T, H)

  // A stream's state: the leaky average of its last position, the coefficients, scratch.
  struct Stream {
    std::vector<F> decay, scale;  // (H)
    std::vector<F> last;          // (C) kbar of the last position; 0 before the first
    std::vector<F> kt, kbar, norm;  // scratch: (rows, C), (rows, C), (rows, H)
    std::vector<F> gate, step_decay;  // gated scratch: (rows, H) each
    void reset() { std::fill(last.begin(), last.end(), F(0)); }
  };

  KeyExtractor() = default;
  KeyExtractor(int n_embd, int n_head, bool bias, const KeyOptions& options);
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  // Per head, from the current parameters: the leaky average's decay (unused when gated) and
  // the key scale (1 when not scaled).
  void head_coefficients(F* decay_out, F* scale_out) const;
  // gated: gate and decay (rows, H) from W_g x and W_lambda x (rows, H).
  static void gate_values(F* gate_out, F* decay_out, const F* gate_in, const F* decay_in, int64_t n);
  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dk, F* dx);

  // A stream of up to max_rows rows per step, from the current parameters.
  Stream start_stream(int max_rows) const;
  // The keys k (rows, C) of the streams' next positions x (rows, C), the slices' rows in order.
  void step(F* k_out, const F* x, StreamSlices<Stream> slices) const;
  void step(F* k_out, const F* x, int rows, Stream& s) const {
    const StreamSlice<Stream> one{&s, rows};
    step(k_out, x, {&one, 1});
  }
  // The stream's state (the last kbar) under `prefix`, for memory files.
  void save_stream(const Stream& s, StreamState& out, const std::string& prefix) const { out.put(prefix + "last", {C}, s.last.data()); }
  void load_stream(Stream& s, const StreamState& in, const std::string& prefix) const { s.last = in.take<F>(prefix + "last", {C}); }
};

}  // namespace mosaic
