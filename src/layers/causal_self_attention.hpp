// GPT-2 causal self-attention (nanoGPT's CausalSelfAttention): c_attn -> q, k, v per head,
// softmax(q k^T / sqrt(hs)) over j <= i, c_proj. The GPT baseline only; the Memory Mosaic
// uses ContextualMemory instead. Positions, where the model's are relative: "rope" rotates q
// and k (kernels/rope.hpp), "alibi" adds -slope_h (i - j) to the scores; with "learned" the
// decoder adds them to the embeddings instead. forward() runs whole sequences; step() continues
// a stream over its KV cache of `window` positions (keys rotated at their absolute positions with
// rope), through the same encode_positions and alibi_slope. The cache does not slide by itself:
// the decoder decides (re-encode a tail under learned positions, or drop_oldest).
// Shapes: x, y (B, T, C); qkv (B, T, 3C); probs (B, H, T, T); cache (H, window, hs).
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "kernels/attention.hpp"
#include "kernels/dropout.hpp"
#include "layers/linear.hpp"
#include "layers/stream_settings.hpp"
#include "layers/stream_slices.hpp"

namespace mosaic {

template <class F>
struct CausalSelfAttention {
  static constexpr const char* kName = "self-attention";  // in per-layer timings
  int C = 0, H = 0;
  Linear<F> c_attn, c_proj;
  Dropout prob_drop;  // on the attention probabilities (nanoGPT's attn_dropout)
  static constexpr uint64_t kProbSite = 1;
  static constexpr Visible kVisible = Visible::UpToSelf;  // query i sees keys j <= i
  bool rope = false, alibi = false;

  // cache
  int B = 0, T = 0;
  const F* qkv = nullptr;             // c_attn's output (B, T, 3C), q and k rotated with rope
  Activation<F> heads, probs;         // attention output before c_proj (B, T, C); (B, H, T, T)
  Activation<F> dqkv, dheads, dprobs; // backward scratch
  Activation<F> qkv_rotated;          // rope: c_attn's output with q and k rotated
  std::vector<int64_t> positions;     // rope: 0 .. T - 1

  // A stream's state: the KV cache of its last `size` positions, scratch.
  struct Stream {
    int window = 0, size = 0;            // positions the cache holds, and holds now
    int n_head = 0, hs = 0;         // the cache's H and hs
    int64_t first = 0;                   // absolute position of cache entry 0
    std::vector<F> k_cache, v_cache;     // (H, window, hs)
    std::vector<F> qkv, heads, scores;   // scratch: (max_rows, 3C), (max_rows, C), (window)
    std::vector<int64_t> row_positions;  // scratch: the new rows' absolute positions
    void reset() { size = 0, first = 0; }
    int room() const { return window - size; }
    int entries(int head) const { return size; }  // every head caches the same positions
    // Drops all but the newest `keep` entries; they stay as they are (relative positions only).
    void drop_oldest(int keep);
    std::string describe() const { return "KV cache of " + std::to_string(window); }
  };

  CausalSelfAttention() = default;
  // pos_encoding: the model config's ("", "learned", "rope", "alibi").
  CausalSelfAttention(int n_embd, int n_head, bool bias, double prob_dropout = 0, const std::string& pos_encoding = "")
      : C(n_embd), H(n_head), c_attn(n_embd, 3 * n_embd, bias), c_proj(n_embd, n_embd, bias),
        prob_drop(prob_dropout, kProbSite), rope(pos_encoding == "rope"), alibi(pos_encoding == "alibi") {}
  void register_params(ParamTable<F>& table, const std::string& prefix);
  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time);

  void set_pass(uint64_t key, bool training) { prob_drop.set_pass(key, training); }
  // What attention maps read: the probabilities of the last pass, and which keys a row sees.
  const F* weights() const { return probs.data(); }
  Visible visible() const { return kVisible; }
  // The scores' factor 1 / sqrt(hs), for the forward and the streaming KV cache alike.
  F score_scale() const { return F(1) / std::sqrt(F(C / H)); }
  // ALiBi's slope of head h (0 without alibi).
  double alibi_slope(int h) const;
  // rope: rotates the q and k parts of `rows` rows of c_attn's output (stride 3C), row r at
  // position positions[r]; inverse rotates gradients back. No-op without rope.
  void encode_positions(F* qkv_rows, int rows, const int64_t* row_positions, bool inverse = false) const;
  const F* forward(const F* x, int batch, int time);
  // Accumulates into dx and the parameter grads.
  void backward(const F* dy, F* dx);

  Stream start_stream(const StreamSettings& settings) const;
  // y (rows, C): the layer's output for the streams' next positions x (rows, C), the slices'
  // rows in order (layers/stream_slices.hpp), each attending to its stream's cache and itself;
  // a slice's rows <= its stream's room().
  void step(F* y, const F* x, StreamSlices<Stream> slices) const;
  void step(F* y, const F* x, int rows, Stream& s) const {
    const StreamSlice<Stream> one{&s, rows};
    step(y, x, {&one, 1});
  }
};

}  // namespace mosaic
