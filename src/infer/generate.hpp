// Text generation by full recomputation: every new token runs the model over the whole
// (block_size-cropped) context, as the reference's generate() does. Works for both
// architectures; the streaming path of the inference issue will replace it for speed.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/rng.hpp"
#include "infer/sampler.hpp"
#include "models/language_model.hpp"

namespace mosaic {

// Appends n tokens to context (which must not be empty); on_token sees each as it comes.
// Only ids below vocab_limit are sampled (the tokenizer's 50257 of a padded 50304).
void generate(LanguageModel<float>& model, std::vector<int32_t>& context, int n, int vocab_limit, Sampler& sampler,
              Rng& rng, const std::function<void(int32_t)>& on_token = nullptr);

}  // namespace mosaic
