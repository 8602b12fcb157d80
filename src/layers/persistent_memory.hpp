// Persistent memory (reference: PersistentMem), the Memory Mosaic's replacement for the MLP:
// keys from its own extractor (s = 2, since P_k carries no scale), then per head and bank
// softmax(k . P_k^T) P_v over pmem_size learned slots, averaged over the pmem_count banks,
// times exp(10 out_scale_h), then c_proj.
// Shapes: x, y (N = B*T, C); P_k, P_v (count, 1, H, P, hs); out_scale (1, H, 1, 1);
// probs (count, H, N, P).
#pragma once
#include <string>

#include "core/buffer.hpp"
#include "core/param_table.hpp"
#include "layers/key_extractor.hpp"
#include "layers/linear.hpp"

namespace mosaic {

template <class F>
struct PersistentMemory {
  static constexpr const char* kName = "persistent memory";  // in per-layer timings
  int C = 0, H = 0, P = 0, count = 1;
  KeyExtractor<F> k_featurizer;
  Linear<F> c_proj;
  Param<F> P_k, P_v, out_scale;

  // cache
  int64_t N = 0;
  Buffer<F> probs, retrieved, scale;  // (count, H, N, P) softmax scores; (N, C) after scaling; (H)
  Buffer<F> dretrieved, dk, dprobs;   // backward scratch; dprobs: per thread (kRows, P) + (hs, kRows)
  Buffer<F> partial;                  // backward: slot-gradient sums per row group
  Buffer<F> slots_t;                  // P_k (forward) or P_v (backward) transposed: (count, H, hs, P)

  PersistentMemory() = default;
  PersistentMemory(int n_embd, int n_head, int pmem_size, int pmem_count, bool bias)
      : C(n_embd), H(n_head), P(pmem_size), count(pmem_count), k_featurizer(n_embd, n_head, bias, 2),
        c_proj(n_embd, n_embd, bias) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);

  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);

 private:
  void transpose_slots(const F* slots);
};

}  // namespace mosaic
