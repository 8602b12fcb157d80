// Contextual memory (reference: ContextMem), the Memory Mosaic's replacement for
// self-attention: stores (k_i, v_i) pairs and retrieves by Gaussian kernel smoothing,
// y_t = sum_{i<t} softmax_i(k_t . k_i) v_i, y_0 = 0, then c_proj. Keys are their own queries,
// there is no 1/sqrt(hs) and no positional encoding. forward() runs whole sequences; step()
// continues a stream: the extractors' own steps give k_t and v_{t-1}, the pair (k_{t-1}, v_{t-1})
// enters each head's live store (layers/memory_store.hpp, with eviction), then k_t queries it.
// Shapes: x, y (B, T, C); probs (B, H, T, T); a stream's x, y (rows, C).
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "kernels/attention.hpp"
#include "kernels/dropout.hpp"
#include "layers/key_extractor.hpp"
#include "layers/linear.hpp"
#include "layers/memory_store.hpp"
#include "layers/stream_settings.hpp"
#include "layers/value_extractor.hpp"

namespace mosaic {

template <class F>
struct ContextualMemory {
  static constexpr const char* kName = "contextual memory";  // in per-layer timings
  int C = 0, H = 0;
  KeyExtractor<F> k_featurizer;
  ValueExtractor<F> v_featurizer;
  Linear<F> c_proj;
  Dropout prob_drop;  // on the retrieval weights (StackAssoMem's ic_dropout)
  static constexpr uint64_t kProbSite = 1;
  static constexpr Visible kVisible = Visible::BeforeSelf;  // v_i has seen token i + 1: pairs j < i only

  // cache
  int B = 0, T = 0;
  const F *k = nullptr, *v = nullptr;            // the extractors' outputs (B, T, C)
  Activation<F> retrieved, probs;                // (B, T, C) before c_proj; (B, H, T, T)
  Activation<F> dretrieved, dk, dv, dprobs;      // backward scratch

  // A stream's state: the extractors' states, the key waiting for its value, a store per head.
  struct Stream {
    typename KeyExtractor<F>::Stream keys;
    typename ValueExtractor<F>::Stream values;
    std::vector<F> pending_key;          // (C) k_{t-1}: stored with v_{t-1} once x_t arrives
    std::vector<MemoryStore<F>> stores;  // (H)
    int64_t position = 0;                // positions fed since the last reset
    std::vector<F> k, v, retrieved;      // scratch (max_rows, C)
    void reset();
    // Positions a step may still take: a store evicts instead of filling up.
    int room() const { return std::numeric_limits<int>::max(); }
    std::string describe() const { return describe_limit(stores.front().limit()); }
  };

  ContextualMemory() = default;
  ContextualMemory(int n_embd, int n_head, bool bias, double kernel_beta_upbound = 0, double prob_dropout = 0)
      : C(n_embd), H(n_head), k_featurizer(n_embd, n_head, bias, 1, kernel_beta_upbound), v_featurizer(n_embd, n_head, bias),
        c_proj(n_embd, n_embd, bias), prob_drop(prob_dropout, kProbSite) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);

  Stream start_stream(const StreamSettings& settings) const;
  // y (rows, C): the layer's output for the stream's next `rows` positions x (rows, C).
  void step(F* y, const F* x, int rows, Stream& s) const;
};

}  // namespace mosaic
