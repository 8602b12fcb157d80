// The interface both language models implement (MemoryMosaic, GPT), templated on the float
// type so that the same code runs in fp32 for use and in float64 for gradient checks.
// Shapes: idx, targets (B, T) int32; logits (B, T, V).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "core/step_profile.hpp"
#include "core/stream_state.hpp"
#include "kernels/attention.hpp"
#include "layers/stream_settings.hpp"
#include "models/config.hpp"

namespace mosaic {

// The model run one chunk of tokens at a time, keeping every layer's stream state between
// chunks (leaky averages, memory stores, KV caches), so a token costs one row of work instead of
// a forward over the whole context. It reads the model's weights, which must outlive it.
template <class F>
class ModelStream {
 public:
  virtual ~ModelStream() = default;
  // Feeds n >= 1 tokens (Error with a hint for a bad id); returns the last token's features (C),
  // the final LayerNorm's output that the tied head projects, valid until the next call.
  virtual const F* advance(const int32_t* tokens, int n) = 0;
  virtual void reset() = 0;                    // back to the empty context
  virtual int64_t position() const = 0;        // tokens fed since the last reset
  virtual std::string describe() const = 0;    // one line for logs
  // (L, H) layer-major: what each head's mixer holds now, the (key, value) pairs of a Memory
  // Mosaic's memory, the entries of a GPT's KV cache. Watching it grow is watching the memory.
  virtual std::vector<int> entries_per_head() const = 0;

  // The last token's features (C), as advance returned them (after load: the saved ones).
  virtual const F* features() const = 0;

  // Memory files: the whole state as named tensors (every layer's under its parameters' names),
  // and back. A GPT's stream is not saved (Error with a hint). load checks every shape against
  // this model's; on an Error the stream is left empty (reset), never half loaded.
  virtual void save(StreamState& out) const = 0;
  virtual void load(const StreamState& in) = 0;
  // Every contextual-memory store, layer by layer, level by level, head by head (none for a
  // GPT): for the retrieval audit and the benchmarks' prefilled memories.
  virtual std::vector<MemoryStore<F>*> memory_stores() = 0;
};

template <class F>
class LanguageModel {
 public:
  explicit LanguageModel(const ModelConfig& config) : config_(config) {}
  virtual ~LanguageModel() = default;
  LanguageModel(const LanguageModel&) = delete;
  LanguageModel& operator=(const LanguageModel&) = delete;

  const ModelConfig& config() const { return config_; }
  ParamTable<F>& params() { return params_; }
  const ParamTable<F>& params() const { return params_; }

  // Full forward over B sequences of T <= block_size tokens. With targets (-1 = ignore):
  // a training forward, returns the mean cross-entropy and prepares backward (the head makes
  // its gradients as it goes; logits are not kept). Without targets: keeps the logits,
  // returns 0. Throws Error on bad ids or T.
  F forward(const int32_t* idx, const int32_t* targets, int B, int T);
  // The mean cross-entropy only (validation): no gradient work, logits not kept.
  F evaluate(const int32_t* idx, const int32_t* targets, int B, int T);
  // After a forward with targets: accumulates d(loss_scale * loss)/d param into the grads
  // (loss_scale = 1 / accumulation steps for gradient accumulation).
  virtual void backward(F loss_scale = F(1)) = 0;
  // (B, T, V) logits of the last forward without targets; throws after any other pass.
  virtual const F* logits() const = 0;
  // (B, T) cross-entropy at each position of the last forward with targets or evaluate (0
  // where the target is ignored); throws after a logits pass.
  virtual const F* token_losses() const = 0;

  // What layer `layer`'s mixer attended to in the last pass (any pass): the weights of each
  // query row over the positions it can see, GPT's attention probabilities (keys j <= i) or
  // the contextual memory's retrieval weights (stored pairs j < i), before dropout. Row i of
  // (b, h) starts at probs[((b H + h) T + i) T]; entries past the visible ones are not written.
  struct AttentionView {
    const F* probs = nullptr;  // (B, H, T, T)
    int B = 0, H = 0, T = 0;
    Visible mask;              // which keys row i sees (GPT: j <= i; a memory: j < i, or a band)
    bool sees_self() const { return mask.min_lag == 0; }
    int first(int i) const { return mask.first(i); }    // the first key row i sees
    int visible(int i) const { return mask.end(i); }    // one past the last
    const F* row(int b, int h, int i) const { return probs + ((static_cast<int64_t>(b) * H + h) * T + i) * T; }
  };
  virtual AttentionView attention(int layer) const = 0;

  // A stream over this model's weights (which must outlive it); the model's own forward state
  // is not touched. Past block_size a Memory Mosaic goes on (no positions); a GPT's window slides.
  virtual std::unique_ptr<ModelStream<F>> start_stream(const StreamSettings& settings) const = 0;
  // One token to each of `streams` (this model's), stepped together: every layer's products read
  // their weights once for all the rows, and each stream's memories advance on their own. Each
  // stream ends as advance(&token, 1) leaves it, its features the same bits whatever streams
  // step beside it (Error with a hint for a bad id or another model's stream; nothing is fed).
  virtual void advance_streams(std::span<ModelStream<F>* const> streams, const int32_t* tokens) const = 0;
  // The token embedding wte (V, C), which the output head shares.
  virtual const F* embedding_weight() const = 0;

  // Data-parallel training: hook(l) runs as soon as block l's backward is done (blocks L-1
  // down to 0), when block l's gradients, elements block_params(l) of the grads arena, are
  // final. Empty: no call.
  void set_backward_hook(std::function<void(int)> hook) { backward_hook_ = std::move(hook); }
  std::pair<size_t, size_t> block_params(int l) const { return block_params_.at(l); }

  // The dropout masks of the next training passes (kernels/dropout.hpp): the trainer sets a
  // key per micro-step, so masks differ between steps and a resumed run draws the same ones.
  void set_dropout_key(uint64_t key) { dropout_key_ = key; }

  // Per-layer wall times of every later pass go to profile (null: off). Not owned.
  void set_profile(StepProfile* profile) { profile_ = profile; }

  // Sizes the activation arena (every cache and scratch tensor, one allocation) for passes of
  // up to B sequences of T tokens. A larger pass, a logits pass, or a change of the OpenMP
  // thread count plans it again, once; passes that fit allocate nothing.
  void reserve(int B, int T) { fit(B, T, 0); }
  const Activations<F>& activations() const { return activations_; }

 protected:
  enum class Pass { Logits, Train, Evaluate };
  virtual F forward_checked(const int32_t* idx, const int32_t* targets, int B, int T, Pass pass) = 0;
  // Declares every activation of passes up to (B, T), and (logits_rows, V) logits.
  virtual void plan(Activations<F>& acts, int B, int T, int64_t logits_rows) = 0;
  // Plans the arena again unless (B, T, logits_rows) fits the current plan.
  void fit(int B, int T, int64_t logits_rows);

  ModelConfig config_;
  ParamTable<F> params_;
  StepProfile* profile_ = nullptr;
  uint64_t dropout_key_ = 0;
  std::function<void(int)> backward_hook_;
  std::vector<std::pair<size_t, size_t>> block_params_;  // [begin, end) in the arenas, per block

 private:
  void check_inputs(const int32_t* idx, const int32_t* targets, int B, int T) const;

  struct Capacity {
    int B = 0, T = 0;
    int64_t logits_rows = 0;
    int threads = 0;  // per-thread scratch is sized by it
  };
  Capacity capacity_;
  Activations<F> activations_;
};

}  // namespace mosaic
