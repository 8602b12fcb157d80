// The stream factory and what the streams share.
#include "infer/stream.hpp"

#include <omp.h>

#include "core/error.hpp"
#include "infer/streaming_gpt.hpp"
#include "infer/streaming_mosaic.hpp"

namespace mosaic {

TokenStream::TokenStream(const float* wte, int V, int C, const StreamOptions& options)
    : head_(wte, V, C, options.head, stream_threads(options.threads)), logits_(V) {}

int stream_threads(int requested) { return requested > 0 ? requested : omp_get_max_threads(); }

void check_stream_tokens(const int32_t* tokens, int n, int vocab_size) {
  MOSAIC_CHECK(n > 0, "no tokens to push", "pass at least one token");
  for (int i = 0; i < n; ++i)
    MOSAIC_CHECK(tokens[i] >= 0 && tokens[i] < vocab_size,
                 "token id " + std::to_string(tokens[i]) + " outside the vocabulary of " + std::to_string(vocab_size),
                 "the prompt and the model must use the same tokenizer");
}

std::unique_ptr<TokenStream> make_stream(const LanguageModel<float>& model, const StreamOptions& options) {
  if (const auto* gpt = dynamic_cast<const Gpt<float>*>(&model)) return std::make_unique<StreamingGpt>(*gpt, options);
  if (const auto* mosaic = dynamic_cast<const MemoryMosaic<float>*>(&model))
    return std::make_unique<StreamingMosaic>(*mosaic, options);
  throw Error("this model cannot stream (arch " + model.config().arch + ")",
              "streaming needs a Memory Mosaic or GPT built by make_model");
}

}  // namespace mosaic
