// Contextual memory (reference: ContextMem), the Memory Mosaic's replacement for
// self-attention: stores (k_i, v_i) pairs and retrieves by Gaussian kernel smoothing,
// y_t = sum_{i<t} softmax_i(k_t . k_i) v_i, y_0 = 0, then c_proj. Keys are their own queries,
// there is no 1/sqrt(hs) and no positional encoding. The retrieval lives in its memory levels
// (memory_level.hpp): one level reading every earlier pair in a Memory Mosaic, or Memory Mosaics
// v2's short-term and long-term levels, whose outputs are concatenated before c_proj (2C -> C).
// forward() runs whole sequences; step() continues a stream, level by level.
// Shapes: x, y (B, T, C); retrieved (B, T, levels C); a stream's x, y (rows, C).
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "kernels/dropout.hpp"
#include "layers/linear.hpp"
#include "layers/memory_level.hpp"
#include "layers/stream_settings.hpp"

namespace mosaic {

// What the model config chooses for a contextual memory.
struct ContextualMemoryOptions {
  double kernel_beta_upbound = 0;  // v1 key-scale clamp (StackAssoMem's); 0: nanoMosaics'
  double fixed_key_decay = -1;     // >= 0: the leaky average's decay, fixed and not trained
  double prob_dropout = 0;
  // Memory Mosaics v2 (all off: the v1 memory)
  int short_term = 0;              // h > 0: a short-term level over lags 1 .. h - 1 and a long-term level
  int long_delay_min = 0, long_delay_max = 0, long_delay_eval = 0;  // the long-term level's m; max 0: none
  bool bandwidth = false, adaptive = true, gated_keys = false;
};

template <class F>
struct ContextualMemory {
  static constexpr const char* kName = "contextual memory";  // in per-layer timings
  int C = 0, H = 0;
  std::vector<MemoryLevel<F>> levels;  // v1: one, registered at the memory's own prefix
  Linear<F> c_proj;                    // (C, levels C)
  Dropout prob_drop;  // on the retrieval weights (StackAssoMem's ic_dropout)
  static constexpr uint64_t kProbSite = 1;

  // cache
  int B = 0, T = 0;
  Activation<F> retrieved, dretrieved;  // (B, T, levels C) before c_proj, and its gradient

  // A stream's state: each level's, and scratch.
  struct Stream {
    std::vector<typename MemoryLevel<F>::Stream> levels;
    std::vector<F> retrieved;  // scratch (max_rows, levels C)
    void reset() {
      for (auto& l : levels) l.reset();
    }
    // Positions a step may still take: a store evicts instead of filling up.
    int room() const { return std::numeric_limits<int>::max(); }
    // The (key, value) pairs head `head` holds now, over its levels (pairs still too recent to
    // be read wait outside the stores and are not counted).
    int entries(int head) const {
      int n = 0;
      for (const auto& l : levels) n += l.stores.at(head).size();
      return n;
    }
    std::string describe() const {
      const auto& store = levels.back().stores.front();
      return describe_limit(store.limit()) + ", " + describe_retrieval(store.retrieval());
    }
  };

  ContextualMemory() = default;
  ContextualMemory(int n_embd, int n_head, bool bias, const ContextualMemoryOptions& options = {});
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  // Dropout on for a training pass with this key, or off; a training pass draws the delays.
  void set_pass(uint64_t key, bool training);
  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);

  // What attention maps read: the first level's weights of the last pass, and its lags.
  const F* weights() const { return levels.front().probs.data(); }
  Visible visible() const { return levels.front().visible; }

  Stream start_stream(const StreamSettings& settings) const;
  // y (rows, C): the layer's output for the streams' next positions x (rows, C), the slices'
  // rows in order (layers/stream_slices.hpp).
  void step(F* y, const F* x, StreamSlices<Stream> slices) const;
  void step(F* y, const F* x, int rows, Stream& s) const {
    const StreamSlice<Stream> one{&s, rows};
    step(y, x, {&one, 1});
  }
  // The stream's state under `prefix` (memory files): each level's, under its parameters' names.
  void save_stream(const Stream& s, StreamState& out, const std::string& prefix) const {
    for (size_t l = 0; l < levels.size(); ++l) levels[l].save_stream(s.levels[l], out, level_prefix(prefix, l));
  }
  void load_stream(Stream& s, const StreamState& in, const std::string& prefix) const {
    for (size_t l = 0; l < levels.size(); ++l) levels[l].load_stream(s.levels[l], in, level_prefix(prefix, l));
  }

 private:
  int width() const { return static_cast<int>(levels.size()) * C; }  // the concatenated levels
  uint64_t slice0(size_t level) const { return static_cast<uint64_t>(level) * B * H; }
  // v1's one level keeps the reference's names (attn.k_featurizer...); v2's are named.
  std::string level_prefix(const std::string& prefix, size_t level) const;
};

}  // namespace mosaic
