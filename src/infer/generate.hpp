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

}  // namespace mosaic
