// Text generation loops. generate(): full recomputation, every new token runs the model over
// the whole (block_size-cropped) context, as the reference's generate() does: O(T) work per
// token, kept as the baseline of `mosaic bench generate` and for the trainer's samples.
// generate_streaming(): a TokenStream (stream.hpp) does one row of work per token; its loop is
// StreamingSample, a token per call, and that a Continuation's draws (the Python module steps
// both: python/mosaic_module.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/rng.hpp"
#include "infer/sampler.hpp"
#include "infer/stream.hpp"
#include "layers/stream_settings.hpp"
#include "models/language_model.hpp"

namespace mosaic {

// Appends up to n tokens to context (which must not be empty); on_token sees each as it
// comes. Only ids below vocab_limit are sampled (the tokenizer's 50257 of a padded 50304).
// Sampling stop_token (e.g. <|endoftext|>; -1: none) ends it: appended, not shown to on_token.
// Returns the tokens sampled.
int generate(LanguageModel<float>& model, std::vector<int32_t>& context, int n, int vocab_limit, Sampler& sampler,
             Rng& rng, const std::function<void(int32_t)>& on_token = nullptr, int32_t stop_token = -1);

// `mosaic sample`'s other defaults (its sampler's: sampler.hpp), shared with the Python module.
inline constexpr int kSampleTokens = 200;
inline constexpr uint64_t kSampleSeed = 42;

// The ids a sample of text starts from: <|endoftext|> (documents start after it; not when the
// text continues a loaded memory file), then the prompt's. Error with a hint when the model's vocabulary is smaller than the tokenizer's, or
// when they do not fit a GPT's window.
std::vector<int32_t> document_prompt(const ModelConfig& config, int eot, int tokenizer_vocab,
                                     std::span<const int> prompt_ids, bool continues = false);

// progress(tokens fed, tokens of every prompt) while prompts go in, after each chunk of
// kPromptChunk tokens: a long prompt into an unbounded Memory Mosaic takes minutes.
using PromptProgress = std::function<void(int64_t, int64_t)>;
constexpr int kPromptChunk = 4 * kStreamChunk;  // whole steps of the stream: the state of one batch

// A sample drawn one token at a time from a stream: the logits of the last token fed, the
// generator, and the history the repeat penalty reads, kept between draws, so that a caller may
// look, feed more or stop between any two. Holds references to the stream and the Rng.
class Continuation {
 public:
  // Only ids below vocab_limit are drawn (the tokenizer's 50257 of a padded 50304).
  Continuation(TokenStream& stream, Rng& rng, int vocab_limit);
  // Feeds n >= 1 tokens in chunks of kPromptChunk (the state one batch leaves), progress(fed,
  // n) after each; they join the history.
  void feed(std::span<const int32_t> tokens, const PromptProgress& progress = nullptr);
  // Goes on from the stream as it is (a loaded memory file): the next draw reads its last logits.
  void resume();
  // The next token by `sampler` from the last token's logits; not fed (Error before any feed).
  int32_t draw(Sampler& sampler);
  // The logits (V) the next draw reads; null before any feed.
  const float* logits() const { return logits_; }

 private:
  TokenStream& stream_;
  Rng& rng_;
  int limit_;
  const float* logits_ = nullptr;
  std::vector<int32_t> history_;
};

// generate_streaming's loop, a token at a time: the stream reset and fed the prompt (non-empty)
// at construction, then each next() draws a token and feeds it back unless it is the last.
// References the stream, sampler and Rng.
class StreamingSample {
 public:
  // kFresh resets the stream and needs a prompt; kContinue goes on from its state (a loaded memory
  // file, tokens fed before), and the prompt may be empty.
  enum Start { kFresh, kContinue };
  // Up to n tokens; drawing stop_token (-1: none) ends the sample. feed_last: the last token
  // drawn is fed too, so that the stream holds the whole text (to save it).
  StreamingSample(TokenStream& stream, std::span<const int32_t> prompt, int n, int vocab_limit, Sampler& sampler,
                  Rng& rng, int32_t stop_token = -1, const PromptProgress& progress = nullptr, Start start = kFresh,
                  bool feed_last = false);
  // The next token, or -1 once the sample has ended (stop_token is not returned).
  int32_t next();
  int drawn() const { return drawn_; }  // tokens drawn so far, stop_token included

 private:
  Continuation continuation_;
  Sampler& sampler_;
  int n_, drawn_ = 0;
  int32_t stop_token_;
  bool feed_last_, ended_ = false;
};

struct GenerationStats {
  int64_t prompt_tokens = 0, generated = 0;
  double prompt_seconds = 0, generate_seconds = 0;  // wall time; sampling counts as generation

  double prompt_tokens_per_s() const { return prompt_seconds > 0 ? prompt_tokens / prompt_seconds : 0; }
  double generated_per_s() const { return generate_seconds > 0 ? generated / generate_seconds : 0; }
  GenerationStats& operator+=(const GenerationStats& o);
};

// Resets the stream, feeds the prompt (non-empty) in chunks, then samples up to n tokens,
// each pushed back into the stream except the last (nothing reads its logits). Sampling
// stop_token (-1: none) ends it without showing it to on_token; it counts as generated.
GenerationStats generate_streaming(TokenStream& stream, std::span<const int32_t> prompt, int n, int vocab_limit,
                                   Sampler& sampler, Rng& rng, const std::function<void(int32_t)>& on_token = nullptr,
                                   int32_t stop_token = -1, const PromptProgress& progress = nullptr);

// Goes on from the stream's state (a loaded memory file, or tokens fed before): feeds the prompt,
// which may be empty (then the first token is sampled from the last logits), and samples as
// generate_streaming does. feed_last: the last token sampled is fed too, so that the stream holds
// the whole text (to save it).
GenerationStats continue_streaming(TokenStream& stream, std::span<const int32_t> prompt, int n, int vocab_limit,
                                   Sampler& sampler, Rng& rng, const std::function<void(int32_t)>& on_token = nullptr,
                                   int32_t stop_token = -1, bool feed_last = false,
                                   const PromptProgress& progress = nullptr);

// Feeds tokens[i] to streams[i] (all on one model) for every i and copies each stream's features
// (C floats) to row i of features: one step of them all (LanguageModel::advance_streams: each
// layer's weights read once for every row, the memories on the threads), each stream's features
// the same bits as its own advance would give.
void advance_streams(std::span<TokenStream* const> streams, std::span<const int32_t> tokens, float* features, int C);

// Several samples at once: streams[i] is reset, fed prompts[i], then samples with rngs[i],
// as generate_streaming would, except that each step projects the features of every unfinished
// stream in one product (VocabHead::project_rows with `head`: the vocabulary matrix is read
// once per step, not once per stream). on_token(i, token) sees sample i's tokens; on_done(i)
// is called once sample i ends (stop_token or n tokens). Greedy picks are those of
// generate_streaming up to float rounding in fp32 (bf16: the same logits). Stats count all
// streams' tokens together, and progress counts every stream's prompt.
GenerationStats generate_streaming_batch(std::span<TokenStream* const> streams, VocabHead& head,
                                         std::span<const std::vector<int32_t>> prompts, int n, int vocab_limit,
                                         Sampler& sampler, std::span<Rng> rngs,
                                         const std::function<void(int, int32_t)>& on_token = nullptr,
                                         const std::function<void(int)>& on_done = nullptr, int32_t stop_token = -1,
                                         const PromptProgress& progress = nullptr);

}  // namespace mosaic
