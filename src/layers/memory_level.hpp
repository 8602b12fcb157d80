// One associative memory of a contextual memory: its own key and value extractors, optionally a
// learned bandwidth, and which stored pairs a query reads (kernels/attention.hpp's Visible, by
// lag). A Memory Mosaic (v1) has one level reading every earlier pair (lags 1..); Memory
// Mosaics v2 has a short-term level (lags 1 .. h - 1) and a long-term level (lags m ..), where m
// is drawn uniformly from [delay_min, delay_max] for each training pass and fixed at inference.
// Retrieval y_t = sum_i softmax_i(beta k_t . k_i) v_i over the visible pairs (y = 0 with none);
// beta = 1 without a bandwidth (v1: the keys carry their scale). The contextual memory
// (contextual_memory.hpp) concatenates its levels and projects them.
// Shapes: x (B, T, C); out (B, T, C) with row stride ldo; probs (B, H, T, T); a stream's x (rows, C).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "kernels/attention.hpp"
#include "kernels/dropout.hpp"
#include "layers/bandwidth.hpp"
#include "layers/key_extractor.hpp"
#include "layers/memory_store.hpp"
#include "layers/stream_settings.hpp"
#include "layers/stream_slices.hpp"
#include "layers/value_extractor.hpp"

namespace mosaic {

struct MemoryLevelOptions {
  KeyOptions keys;                          // v1: scaled leaky keys; v2: unscaled, gated or not
  bool abs_value_scale = false;             // v2's value-scale reparameterisation
  bool bandwidth = false, adaptive = true;  // v2: a learned beta per head, adaptive to n or fixed
  Visible visible = Visible::BeforeSelf;    // the lags read at inference (and in training unless drawn)
  int delay_min = 0, delay_max = 0;         // > 0: min_lag drawn in [delay_min, delay_max] per training pass
};

template <class F>
struct MemoryLevel {
  int C = 0, H = 0;
  MemoryLevelOptions options;
  KeyExtractor<F> k_featurizer;
  ValueExtractor<F> v_featurizer;
  Bandwidth<F> bandwidth;  // registered only with options.bandwidth
  Visible visible;         // the lags of the current pass

  // cache
  int B = 0, T = 0;
  const F *k = nullptr, *v = nullptr;  // the extractors' outputs (B, T, C)
  Activation<F> queries, betas;        // bandwidth: beta_t k_t (B, T, C); beta (T, H)
  Activation<F> probs, dprobs;         // (B, H, T, T): retrieval weights; backward scratch
  Activation<F> dk, dv, dq, dbeta;     // backward scratch; dbeta (B, T, H)
  Activation<F> dbeta_position;        // backward scratch: dbeta of one head summed over the batch (T)
  std::vector<int> counts;             // (T): pairs each position sees

  // A stream's state: the extractors' states, the key waiting for its value, pairs not yet
  // old enough to be read (lags below min_lag), a store per head (bounded by the window).
  struct Stream {
    typename KeyExtractor<F>::Stream keys;
    typename ValueExtractor<F>::Stream values;
    Visible visible;
    std::vector<F> pending_key;           // (C) k_{t-1}: stored with v_{t-1} once x_t arrives
    std::vector<F> delayed_k, delayed_v;  // (min_lag - 1, C) rings of complete pairs, oldest first
    int delayed = 0, delayed_head = 0;
    std::vector<MemoryStore<F>> stores;   // (H)
    int64_t position = 0;                 // positions fed since the last reset
    std::vector<F> k, v;                  // scratch (max_rows, C)
    std::vector<F> pair_k, pair_v;        // scratch: the pairs a step stores, in order (max_rows, C)
    std::vector<int64_t> pair_position;   //   and their positions (max_rows)
    std::vector<int> pairs_through;       //   pairs stored up to each row's query (max_rows)
    void reset();
  };

  MemoryLevel() = default;
  MemoryLevel(int n_embd, int n_head, bool bias, const MemoryLevelOptions& o)
      : C(n_embd), H(n_head), options(o), k_featurizer(n_embd, n_head, bias, o.keys),
        v_featurizer(n_embd, n_head, bias, o.abs_value_scale), bandwidth(n_head, o.adaptive), visible(o.visible) {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  // The lags of the next pass: a training pass draws its delay from `key`, others use the
  // inference lags.
  void set_pass(uint64_t key, bool training);
  // out (B, T, C), row stride ldo. drop: the retrieval weights' dropout, slices from slice0.
  void forward(F* out, int ldo, const F* x, int batch, int time, const Dropout& drop, uint64_t slice0);
  // Accumulates into dx and the parameter grads; dout (B, T, C) with row stride ldo.
  void backward(const F* dout, int ldo, F* dx, const Dropout& drop, uint64_t slice0);

  // A stream of the inference lags; the memory bound applies within the level's window, and
  // approximate retrieval to a level without one (a window's few pairs are read exactly).
  Stream start_stream(const StreamSettings& settings) const;
  // out (rows, C), row stride ldo: the retrieval of the streams' next positions x, the slices'
  // rows in order (layers/stream_slices.hpp); streams retrieve on the threads.
  void step(F* out, int ldo, const F* x, StreamSlices<Stream> slices) const;
  void step(F* out, int ldo, const F* x, int rows, Stream& s) const {
    const StreamSlice<Stream> one{&s, rows};
    step(out, ldo, x, {&one, 1});
  }
  // The stream's state under `prefix` (memory files): the extractors' states, the pending key,
  // the pairs waiting in the delay ring (oldest first), the position, each head's store.
  void save_stream(const Stream& s, StreamState& out, const std::string& prefix) const;
  void load_stream(Stream& s, const StreamState& in, const std::string& prefix) const;

 private:
  // The pairs the stream's next `rows` positions complete and make old enough, queued in order
  // (the delay ring advanced); k, v: the rows' keys and values (rows, C).
  void queue_pairs(Stream& s, const F* k, const F* v, int rows, bool first_has_value) const;
  // Head h of the stream: its queued pairs stored and the rows' queries k (rows, C) read into y
  // (rows, stride ldy), a prompt's rows together where the store allows (MemoryStore::query_rows).
  void read_head(Stream& s, int h, const F* k, F* y, int ldy, int rows) const;
};

}  // namespace mosaic
