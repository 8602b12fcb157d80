// Key feature extractor of a Memory Mosaic memory (reference: KeyFeatureExtractor):
// k~ = W_k x; kbar_t = k~_t + exp(-10|beta_h|) kbar_{t-1}; k = kbar / (|kbar| + 1e-10) *
// exp(min(s * 10 * key_scale_h, ln 65535)), with s = 1 (contextual) or 2 (persistent).
// Shapes: x, k (B, T, C) with head h in channels [h*hs, (h+1)*hs); key_scale, beta (1, H, 1, 1).
#pragma once
#include <string>

#include "core/buffer.hpp"
#include "core/param_table.hpp"
#include "layers/linear.hpp"

namespace mosaic {

template <class F>
struct KeyExtractor {
  int C = 0, H = 0;
  int scale_power = 1;  // s
  Linear<F> W_k;
  Param<F> key_scale, leaky_key_beta;

  // cache
  int B = 0, T = 0;
  Buffer<F> kbar, norm, k;   // (B, T, C), (B, T, H), (B, T, C)
  Buffer<F> decay, scale;    // per head: exp(-10|beta|), exp(min(s*10*key_scale, ln 65535))
  Buffer<F> dkbar, dkt, scan, partial;  // backward scratch; partial (2, B, H)

  KeyExtractor() = default;
  KeyExtractor(int n_embd, int n_head, bool bias, int s) : C(n_embd), H(n_head), scale_power(s), W_k(n_embd, n_embd, bias) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);

  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dk, F* dx);
};

}  // namespace mosaic
