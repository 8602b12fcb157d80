// GPT-2 causal self-attention (nanoGPT's CausalSelfAttention): c_attn -> q, k, v per head,
// softmax(q k^T / sqrt(hs)) over j <= i, c_proj. The GPT baseline only; the Memory Mosaic
// uses ContextualMemory instead. Shapes: x, y (B, T, C); qkv (B, T, 3C); probs (B, H, T, T).
#pragma once
#include <cmath>
#include <string>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "kernels/dropout.hpp"
#include "layers/linear.hpp"

namespace mosaic {

template <class F>
struct CausalSelfAttention {
  static constexpr const char* kName = "self-attention";  // in per-layer timings
  int C = 0, H = 0;
  Linear<F> c_attn, c_proj;
  Dropout prob_drop;  // on the attention probabilities (nanoGPT's attn_dropout)
  static constexpr uint64_t kProbSite = 1;

  // cache
  int B = 0, T = 0;
  const F* qkv = nullptr;             // c_attn's output (B, T, 3C)
  Activation<F> heads, probs;         // attention output before c_proj (B, T, C); (B, H, T, T)
  Activation<F> dqkv, dheads, dprobs; // backward scratch

  CausalSelfAttention() = default;
  CausalSelfAttention(int n_embd, int n_head, bool bias, double prob_dropout = 0)
      : C(n_embd), H(n_head), c_attn(n_embd, 3 * n_embd, bias), c_proj(n_embd, n_embd, bias),
        prob_drop(prob_dropout, kProbSite) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  // The scores' factor 1 / sqrt(hs), for the forward and the streaming KV cache alike.
  F score_scale() const { return F(1) / std::sqrt(F(C / H)); }
  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);
};

}  // namespace mosaic
