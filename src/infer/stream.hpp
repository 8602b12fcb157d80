// Token streams: a language model's own stream (models/language_model.hpp: every layer's step
// and state, the Memory Mosaic's memory stores, the GPT's KV cache) with the vocabulary head
// on top, so each new token costs one row of work and one product with the vocabulary.
// Not a sampler and not a generation loop (see sampler.hpp, generate.hpp). Shapes: logits (V).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "infer/vocab_head.hpp"
#include "layers/memory_store.hpp"
#include "models/language_model.hpp"

namespace mosaic {

struct StreamOptions {
  MemoryLimit memory;  // Memory Mosaic: pairs kept per contextual-memory head, eviction policy
  RetrievalOptions retrieval; // Memory Mosaic: exact, or approximate (HNSW) for the unbounded memories
  int gpt_keep = 0;    // GPT: tokens kept when the window slides (0: block_size / 2)
  int threads = 0;     // threads for the vocabulary projection (0: OpenMP's count at each step, adaptive)
  HeadPrecision head = HeadPrecision::Fp32;  // bf16: half the bytes per token, same argmax
};

class TokenStream {
 public:
  // The stream runs the model's own layers on its weights, which must outlive it (no copy is
  // made; the tied head reads wte); the model's forward state is not touched.
  TokenStream(const LanguageModel<float>& model, const StreamOptions& options);

  // Feeds one token; returns the logits (V) of the token after it, valid until the next call.
  const float* push(int32_t token) { return push_many(&token, 1); }
  // Feeds n >= 1 tokens as one batch (prompt processing: matrix products over the rows, the
  // vocabulary projection only for the last); the same state and logits as n calls of push.
  const float* push_many(const int32_t* tokens, int n) { return logits_of(advance(tokens, n)); }
  // push_many without the vocabulary projection: returns the last token's features (C), the
  // final LayerNorm's output that the tied head projects, valid until the next call. For
  // generate_streaming_batch (generate.hpp), which projects many streams' features at once.
  const float* advance(const int32_t* tokens, int n) { return state_->advance(tokens, n); }
  // The logits (V) of features advance() returned, valid until the next call.
  const float* logits_of(const float* features) {
    head_.project(features, logits_.data());
    return logits_.data();
  }
  // The logits (V) of the token after the last one fed, from the stream's features: where no
  // token was pushed since a memory file was loaded.
  const float* last_logits() {
    head_.project(state_->features(), logits_.data());
    return logits_.data();
  }
  // Back to the empty context (weights stay).
  void reset() { state_->reset(); }
  // Tokens fed since the last reset.
  int64_t position() const { return state_->position(); }
  int vocab_size() const { return head_.vocab_size(); }
  VocabHead& head() { return head_; }
  const LanguageModel<float>& model() const { return model_; }
  // The model's stream: its layers' states (memory stores, KV caches), saved and loaded whole.
  const ModelStream<float>& state() const { return *state_; }
  ModelStream<float>& state() { return *state_; }
  // One line for logs, e.g. "mosaic streaming, unbounded memory".
  std::string describe() const;

 private:
  const LanguageModel<float>& model_;
  std::unique_ptr<ModelStream<float>> state_;
  VocabHead head_;
  std::vector<float> logits_;  // (V)
};

std::unique_ptr<TokenStream> make_stream(const LanguageModel<float>& model, const StreamOptions& options = {});

}  // namespace mosaic
