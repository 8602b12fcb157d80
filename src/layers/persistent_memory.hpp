// Persistent memory (reference: PersistentMem), the Memory Mosaic's replacement for the MLP:
// keys from its own extractor (s = 2, since P_k carries no scale), then per head and bank
// softmax(k . P_k^T) P_v over pmem_size learned slots, averaged over the pmem_count banks,
// times exp(10 out_scale_h), then c_proj. forward() runs whole sequences; step() continues a
// stream (streaming inference) through the same read-out.
// Shapes: x, y (N = B*T, C); P_k, P_v (count, 1, H, P, hs); out_scale (1, H, 1, 1);
// probs (count, H, N, P).
#pragma once
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "kernels/dropout.hpp"
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
  Dropout prob_drop;  // on the slots' weights (nanoMosaics' dropout, StackAssoMem's ic_dropout)
  static constexpr uint64_t kProbSite = 2;

  // cache
  int64_t N = 0;
  const F* k = nullptr;                       // the key extractor's output (N, C)
  Activation<F> probs, retrieved, scale;      // (count, H, N, P) softmax scores; (N, C) after scaling; (H)
  Activation<F> dretrieved, dk;               // backward scratch (N, C)
  Activation<F> dprobs;                       // per thread: (kRows, P) scores + (hs, kRows) transposed rows
                                              // [+ (kRows, P) dropped weights with dropout]
  Activation<F> partial;                      // backward: slot-gradient sums per row group
  Activation<F> slots_t;                      // P_k (forward) or P_v (backward) transposed: (count, H, hs, P)

  // A stream's state: its key extractor's, the scales and P_k transposed, scratch.
  struct Stream {
    typename KeyExtractor<F>::Stream keys;
    std::vector<F> scale, slots_t;    // (H); (count, H, hs, P)
    std::vector<F> k, z;              // scratch: (rows, C), (rows, C)
    void reset() { keys.reset(); }
  };

  PersistentMemory() = default;
  PersistentMemory(int n_embd, int n_head, int pmem_size, int pmem_count, bool bias, double kernel_beta_upbound = 0,
                   double prob_dropout = 0)
      : C(n_embd), H(n_head), P(pmem_size), count(pmem_count), k_featurizer(n_embd, n_head, bias, {.scale_power = 2, .kernel_beta_upbound = kernel_beta_upbound}),
        c_proj(n_embd, n_embd, bias), prob_drop(prob_dropout, kProbSite) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  // Per head, from the current parameters: exp(10 out_scale_h) / count (the banks' mean).
  void head_scales(F* scale_out) const;
  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);

  Stream start_stream(int max_rows) const;
  // y (rows, C): the layer's output for the streams' next positions x (rows, C), the slices'
  // rows in order (layers/stream_slices.hpp).
  void step(F* y, const F* x, StreamSlices<Stream> slices) const;
  void step(F* y, const F* x, int rows, Stream& s) const {
    const StreamSlice<Stream> one{&s, rows};
    step(y, x, {&one, 1});
  }
  // The stream's state (its key extractor's) under `prefix`, for memory files.
  void save_stream(const Stream& s, StreamState& out, const std::string& prefix) const {
    k_featurizer.save_stream(s.keys, out, prefix + "k_featurizer.");
  }
  void load_stream(Stream& s, const StreamState& in, const std::string& prefix) const {
    k_featurizer.load_stream(s.keys, in, prefix + "k_featurizer.");
  }

 private:
  // dst (count, H, hs, P) = every (bank, head) slot matrix (P, hs) of slots transposed.
  void transpose_slots(F* dst, const F* slots) const;
  // The read-out of `rows` keys of head h: z (rows, hs) = scale_h * sum over banks of
  // softmax(k . P_k^T) P_v, leaving bank i's scores (rows, P) at scores + i * bank_stride.
  // With dropout active, the weights of rows row0.. are dropped into `dropped` (rows, P) first.
  void read_head(F* z, int ldz, F* scores, int64_t bank_stride, const F* keys, int ldk, int rows, int h,
                 const F* slots_transposed, F scale_h, F* dropped = nullptr, int64_t row0 = 0) const;
};

}  // namespace mosaic
