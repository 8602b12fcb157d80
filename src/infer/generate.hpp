// Text generation loops. generate(): full recomputation, every new token runs the model over
// the whole (block_size-cropped) context, as the reference's generate() does: O(T) work per
// token, kept as the baseline of `mosaic bench generate` and for the trainer's samples.
// generate_streaming(): a TokenStream (stream.hpp) does one row of work per token.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/rng.hpp"
#include "infer/sampler.hpp"
#include "infer/stream.hpp"
#include "models/language_model.hpp"

namespace mosaic {

// Appends up to n tokens to context (which must not be empty); on_token sees each as it
// comes. Only ids below vocab_limit are sampled (the tokenizer's 50257 of a padded 50304).
// Sampling stop_token (e.g. <|endoftext|>; -1: none) ends it: appended, not shown to on_token.
// Returns the tokens sampled.
int generate(LanguageModel<float>& model, std::vector<int32_t>& context, int n, int vocab_limit, Sampler& sampler,
             Rng& rng, const std::function<void(int32_t)>& on_token = nullptr, int32_t stop_token = -1);

struct GenerationStats {
  int64_t prompt_tokens = 0, generated = 0;
  double prompt_seconds = 0, generate_seconds = 0;  // wall time; sampling counts as generation

  double prompt_tokens_per_s() const { return prompt_seconds > 0 ? prompt_tokens / prompt_seconds : 0; }
  double generated_per_s() const { return generate_seconds > 0 ? generated / generate_seconds : 0; }
  GenerationStats& operator+=(const GenerationStats& o);
};

// Resets the stream, feeds the prompt (non-empty) as one batch, then samples up to n tokens,
// each pushed back into the stream except the last (nothing reads its logits). Sampling
// stop_token (-1: none) ends it without showing it to on_token; it counts as generated.
GenerationStats generate_streaming(TokenStream& stream, std::span<const int32_t> prompt, int n, int vocab_limit,
                                   Sampler& sampler, Rng& rng, const std::function<void(int32_t)>& on_token = nullptr,
                                   int32_t stop_token = -1);

// Goes on from the stream's state (a loaded memory file, or tokens fed before): feeds the prompt,
// which may be empty (then the first token is sampled from the last logits), and samples as
// generate_streaming does. feed_last: the last token sampled is fed too, so that the stream holds
// the whole text (to save it).
GenerationStats continue_streaming(TokenStream& stream, std::span<const int32_t> prompt, int n, int vocab_limit,
                                   Sampler& sampler, Rng& rng, const std::function<void(int32_t)>& on_token = nullptr,
                                   int32_t stop_token = -1, bool feed_last = false);

// Feeds tokens[i] to streams[i] for every i and copies each stream's features (C floats) to
// row i of features: the streams in parallel over the threads (their states are their own; one
// stream's step is single-threaded apart from the head, which is not run here).
void advance_streams(std::span<TokenStream* const> streams, std::span<const int32_t> tokens, float* features, int C);

// Several samples at once: streams[i] is reset, fed prompts[i], then samples with rngs[i],
// as generate_streaming would, except that each step projects the features of every unfinished
// stream in one product (VocabHead::project_batch with `head`: the vocabulary matrix is read
// once per step, not once per stream). on_token(i, token) sees sample i's tokens; on_done(i)
// is called once sample i ends (stop_token or n tokens). Greedy picks are those of
// generate_streaming up to float rounding in fp32 (bf16: the same logits). Stats count all
// streams' tokens together.
GenerationStats generate_streaming_batch(std::span<TokenStream* const> streams, VocabHead& head,
                                         std::span<const std::vector<int32_t>> prompts, int n, int vocab_limit,
                                         Sampler& sampler, std::span<Rng> rngs,
                                         const std::function<void(int, int32_t)>& on_token = nullptr,
                                         const std::function<void(int)>& on_done = nullptr, int32_t stop_token = -1);

}  // namespace mosaic
