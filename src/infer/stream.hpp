// Token streams: a language model run one token at a time, keeping state between tokens
// (the Memory Mosaic's leaky averages and stored (k, v) pairs, GPT's KV cache), so that each
// new token costs one row of work instead of a forward over the whole context.
// Not a sampler and not a generation loop (see sampler.hpp, generate.hpp). Shapes: logits (V).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "infer/memory_store.hpp"
#include "infer/vocab_head.hpp"
#include "models/language_model.hpp"

namespace mosaic {

struct StreamOptions {
  MemoryLimit memory;  // Memory Mosaic: pairs kept per contextual-memory head, eviction policy
  int gpt_keep = 0;    // GPT: tokens kept when the window slides (0: block_size / 2)
  int threads = 0;     // threads for the vocabulary projection (0: OpenMP's default)
  HeadPrecision head = HeadPrecision::Fp32;  // bf16: half the bytes per token, same argmax
};

class TokenStream {
 public:
  virtual ~TokenStream() = default;
  // Feeds one token; returns the logits (V) of the token after it, valid until the next call.
  const float* push(int32_t token) { return push_many(&token, 1); }
  // Feeds n >= 1 tokens as one batch (prompt processing: matrix products over the rows, the
  // vocabulary projection only for the last); the same state and logits as n calls of push.
  const float* push_many(const int32_t* tokens, int n) {
    head_.project(advance(tokens, n), logits_.data());
    return logits_.data();
  }
  // push_many without the vocabulary projection: returns the last token's features (C), the
  // final LayerNorm's output that the tied head projects, valid until the next call. For
  // generate_streaming_batch (generate.hpp), which projects many streams' features at once.
  virtual const float* advance(const int32_t* tokens, int n) = 0;
  // Back to the empty context (weights stay).
  virtual void reset() = 0;
  // Tokens fed since the last reset.
  virtual int64_t position() const = 0;
  int vocab_size() const { return head_.vocab_size(); }
  VocabHead& head() { return head_; }
  // One line for logs, e.g. "mosaic streaming, unbounded memory".
  virtual std::string describe() const = 0;

 protected:
  // The tied head over wte (V, C), which must outlive the stream.
  TokenStream(const float* wte, int V, int C, const StreamOptions& options);

  VocabHead head_;
  std::vector<float> logits_;  // (V)
};

// The stream for the model's architecture (a MemoryMosaic or a Gpt of models/; Error with a
// hint otherwise). The stream runs the model's own layers on its weights, which must outlive
// it (no copy is made); the model's own forward state is not touched.
std::unique_ptr<TokenStream> make_stream(const LanguageModel<float>& model, const StreamOptions& options = {});

// What the streams share: rows per prompt chunk (bounds their scratch, keeps the products
// efficient), threads for the vocabulary projection (`requested`, or OpenMP's default when
// 0), and the check of pushed tokens (Error with a hint for an empty push or a bad id).
constexpr int kStreamChunk = 64;
int stream_threads(int requested);
void check_stream_tokens(const int32_t* tokens, int n, int vocab_size);

}  // namespace mosaic
