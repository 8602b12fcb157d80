// GPT-2 causal self-attention (nanoGPT's CausalSelfAttention): c_attn -> q, k, v per head,
// softmax(q k^T / sqrt(hs)) over j <= i, c_proj. The GPT baseline only; the Memory Mosaic
// uses ContextualMemory instead. Shapes: x, y (B, T, C); qkv (B, T, 3C); probs (B, H, T, T).
#pragma once
#include <string>

#include "core/buffer.hpp"
#include "core/param_table.hpp"
#include "layers/linear.hpp"

namespace mosaic {

template <class F>
struct CausalSelfAttention {
  static constexpr const char* kName = "self-attention";  // in per-layer timings
  int C = 0, H = 0;
  Linear<F> c_attn, c_proj;

  // cache
  int B = 0, T = 0;
  Buffer<F> heads, probs;  // attention output before c_proj (B, T, C); (B, H, T, T)
  Buffer<F> dqkv, dheads, scratch;

  CausalSelfAttention() = default;
  CausalSelfAttention(int n_embd, int n_head, bool bias)
      : C(n_embd), H(n_head), c_attn(n_embd, 3 * n_embd, bias), c_proj(n_embd, n_embd, bias) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);

  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);
};

}  // namespace mosaic
