// A model's stream with its vocabulary head.
#include "infer/stream.hpp"

namespace mosaic {

namespace {

StreamSettings settings_of(const StreamOptions& options) {
  StreamSettings s;
  s.memory = options.memory;
  s.retrieval = options.retrieval;
  s.keep = options.gpt_keep;
  return s;
}

}  // namespace

TokenStream::TokenStream(const LanguageModel<float>& model, const StreamOptions& options)
    : model_(model),
      state_(model.start_stream(settings_of(options))),
      head_(model.embedding_weight(), model.config().vocab_size, model.config().n_embd, options.head,
            options.threads),
      logits_(model.config().vocab_size) {}

std::string TokenStream::describe() const {
  return state_->describe() + (head_.precision() == HeadPrecision::Bf16 ? ", bf16 head" : "");
}

std::unique_ptr<TokenStream> make_stream(const LanguageModel<float>& model, const StreamOptions& options) {
  return std::make_unique<TokenStream>(model, options);
}

}  // namespace mosaic
