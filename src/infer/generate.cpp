// Generation loops: full recompute and streaming.
#include "infer/generate.hpp"

#include <algorithm>
#include <chrono>
#include <string>

#include "core/error.hpp"

namespace mosaic {

int generate(LanguageModel<float>& model, std::vector<int32_t>& context, int n, int vocab_limit, Sampler& sampler,
             Rng& rng, const std::function<void(int32_t)>& on_token, int32_t stop_token) {
  MOSAIC_CHECK(!context.empty(), "empty prompt", "give at least one token (e.g. an empty -p starts from <|endoftext|>)");
  const int block = model.config().block_size, V = model.config().vocab_size;
  const int limit = std::min(vocab_limit, V);
  for (int i = 0; i < n; ++i) {
    const int T = std::min<int>(static_cast<int>(context.size()), block);
    model.forward(context.data() + context.size() - T, nullptr, 1, T);
    const int32_t next = sampler.sample(model.logits() + static_cast<int64_t>(T - 1) * V, limit, rng, context);
    context.push_back(next);
    if (next == stop_token) return i + 1;
    if (on_token) on_token(next);
  }
  return n;
}

GenerationStats& GenerationStats::operator+=(const GenerationStats& o) {
  prompt_tokens += o.prompt_tokens;
  generated += o.generated;
  prompt_seconds += o.prompt_seconds;
  generate_seconds += o.generate_seconds;
  return *this;
}

namespace {

// Feeds a prompt in chunks of kPromptChunk tokens (the state one advance of it all leaves) and
// returns the last token's features; progress(fed_before + fed, total) after each chunk.
const float* advance_prompt(TokenStream& stream, std::span<const int32_t> prompt, const PromptProgress& progress,
                            int64_t fed_before, int64_t total) {
  const float* features = nullptr;
  for (size_t i = 0; i < prompt.size(); i += kPromptChunk) {
    const int n = static_cast<int>(std::min<size_t>(kPromptChunk, prompt.size() - i));
    features = stream.advance(prompt.data() + i, n);
    if (progress) progress(fed_before + static_cast<int64_t>(i) + n, total);
  }
  return features;
}

}  // namespace

std::vector<int32_t> document_prompt(const ModelConfig& config, int eot, int tokenizer_vocab,
                                     std::span<const int> prompt_ids, bool continues) {
  MOSAIC_CHECK(config.vocab_size >= tokenizer_vocab,
               "the model's vocabulary (" + std::to_string(config.vocab_size) + ") is smaller than the tokenizer's (" +
                   std::to_string(tokenizer_vocab) + ")",
               "this checkpoint was trained with another tokenizer");
  std::vector<int32_t> ids;
  if (!continues) ids.push_back(eot);
  ids.insert(ids.end(), prompt_ids.begin(), prompt_ids.end());
  MOSAIC_CHECK(config.arch != "gpt" || static_cast<int>(ids.size()) <= config.block_size,
               "the prompt is " + std::to_string(ids.size()) + " tokens (with <|endoftext|>), the GPT's window is " +
                   std::to_string(config.block_size),
               "shorten the prompt; a Memory Mosaic has no window and takes any length");
  return ids;
}

Continuation::Continuation(TokenStream& stream, Rng& rng, int vocab_limit)
    : stream_(stream), rng_(rng), limit_(std::min(vocab_limit, stream.vocab_size())) {}

void Continuation::feed(std::span<const int32_t> tokens, const PromptProgress& progress) {
  logits_ = stream_.logits_of(advance_prompt(stream_, tokens, progress, 0, static_cast<int64_t>(tokens.size())));
  history_.insert(history_.end(), tokens.begin(), tokens.end());
}

void Continuation::resume() {
  MOSAIC_CHECK(stream_.position() > 0, "nothing to continue", "feed a prompt, or load a memory file that holds one");
  logits_ = stream_.last_logits();
}

int32_t Continuation::draw(Sampler& sampler) {
  MOSAIC_CHECK(logits_, "nothing to continue", "feed at least one token (a prompt) before drawing");
  return sampler.sample(logits_, limit_, rng_, history_);
}

StreamingSample::StreamingSample(TokenStream& stream, std::span<const int32_t> prompt, int n, int vocab_limit,
                                 Sampler& sampler, Rng& rng, int32_t stop_token, const PromptProgress& progress,
                                 Start start, bool feed_last)
    : continuation_(stream, rng, vocab_limit), sampler_(sampler), n_(n), stop_token_(stop_token), feed_last_(feed_last) {
  if (start == kFresh) {
    MOSAIC_CHECK(!prompt.empty(), "empty prompt", "give at least one token (e.g. an empty -p starts from <|endoftext|>)");
    stream.reset();
  }
  if (prompt.empty())
    continuation_.resume();
  else
    continuation_.feed(prompt, progress);
}

int32_t StreamingSample::next() {
  if (ended_ || drawn_ >= n_) return -1;
  const int32_t token = continuation_.draw(sampler_);
  ++drawn_;
  ended_ = token == stop_token_;
  // The last token's logits are never read: it is fed only for a stream that is kept (saved).
  if ((!ended_ && drawn_ < n_) || feed_last_) continuation_.feed({&token, 1});
  return ended_ ? -1 : token;
}

GenerationStats generate_streaming(TokenStream& stream, std::span<const int32_t> prompt, int n, int vocab_limit,
                                   Sampler& sampler, Rng& rng, const std::function<void(int32_t)>& on_token,
                                   int32_t stop_token, const PromptProgress& progress) {
  MOSAIC_CHECK(!prompt.empty(), "empty prompt", "give at least one token (e.g. an empty -p starts from <|endoftext|>)");
  stream.reset();
  return continue_streaming(stream, prompt, n, vocab_limit, sampler, rng, on_token, stop_token, false, progress);
}

GenerationStats continue_streaming(TokenStream& stream, std::span<const int32_t> prompt, int n, int vocab_limit,
                                   Sampler& sampler, Rng& rng, const std::function<void(int32_t)>& on_token,
                                   int32_t stop_token, bool feed_last, const PromptProgress& progress) {
  using clock = std::chrono::steady_clock;
  GenerationStats stats;
  stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  const auto t0 = clock::now();
  StreamingSample sample(stream, prompt, n, vocab_limit, sampler, rng, stop_token, progress, StreamingSample::kContinue,
                         feed_last);
  const auto t1 = clock::now();
  for (int32_t token; (token = sample.next()) >= 0;)
    if (on_token) on_token(token);
  stats.generated = sample.drawn();
  stats.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
  stats.generate_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return stats;
}

void advance_streams(std::span<TokenStream* const> streams, std::span<const int32_t> tokens, float* features, int C) {
  if (streams.empty()) return;
  MOSAIC_CHECK(tokens.size() == streams.size(), "one token per stream", "a bug: report it");
  std::vector<ModelStream<float>*> states;
  for (TokenStream* s : streams) states.push_back(&s->state());
  streams.front()->model().advance_streams(states, tokens.data());
  for (size_t i = 0; i < streams.size(); ++i) std::copy_n(states[i]->features(), C, features + i * C);
}

GenerationStats generate_streaming_batch(std::span<TokenStream* const> streams, VocabHead& head,
                                         std::span<const std::vector<int32_t>> prompts, int n, int vocab_limit,
                                         Sampler& sampler, std::span<Rng> rngs,
                                         const std::function<void(int, int32_t)>& on_token,
                                         const std::function<void(int)>& on_done, int32_t stop_token,
                                         const PromptProgress& progress) {
  const int m = static_cast<int>(streams.size());
  MOSAIC_CHECK(m > 0 && prompts.size() == streams.size() && rngs.size() == streams.size(),
               "generate_streaming_batch needs one prompt and one Rng per stream", "a bug: report it");
  using clock = std::chrono::steady_clock;
  const int V = head.vocab_size(), C = head.width(), limit = std::min(vocab_limit, V);
  GenerationStats stats;
  std::vector<float> features;  // (active streams, C), in the order of `active`
  std::vector<float> logits;    // (active streams, V)
  std::vector<std::vector<int32_t>> history(m);
  std::vector<int> active, sampled(m, 0);
  int64_t prompt_total = 0;
  for (const auto& p : prompts) prompt_total += static_cast<int64_t>(p.size());
  const auto t0 = clock::now();
  for (int i = 0; i < m; ++i) {
    MOSAIC_CHECK(!prompts[i].empty(), "empty prompt", "give at least one token (e.g. an empty -p starts from <|endoftext|>)");
    streams[i]->reset();
    const float* f = advance_prompt(*streams[i], prompts[i], progress, stats.prompt_tokens, prompt_total);
    features.insert(features.end(), f, f + C);
    history[i] = prompts[i];
    stats.prompt_tokens += static_cast<int64_t>(prompts[i].size());
    if (n > 0)
      active.push_back(i);
    else if (on_done)
      on_done(i);
  }
  const auto t1 = clock::now();
  while (!active.empty()) {
    const int a = static_cast<int>(active.size());
    logits.resize(static_cast<size_t>(a) * V);
    head.project_rows(features.data(), a, logits.data());
    std::vector<int> still;
    std::vector<TokenStream*> going;
    std::vector<int32_t> fed;
    for (int j = 0; j < a; ++j) {
      const int i = active[j];
      const int32_t next = sampler.sample(logits.data() + static_cast<int64_t>(j) * V, limit, rngs[i], history[i]);
      ++sampled[i];
      ++stats.generated;
      const bool done = next == stop_token || sampled[i] == n;
      if (next != stop_token) {
        if (on_token) on_token(i, next);
        history[i].push_back(next);
      }
      if (done) {
        if (on_done) on_done(i);
        continue;
      }
      still.push_back(i);
      going.push_back(streams[i]);
      fed.push_back(next);
    }
    features.resize(still.size() * static_cast<size_t>(C));
    advance_streams(going, fed, features.data(), C);
    active.swap(still);
  }
  stats.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
  stats.generate_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return stats;
}

}  // namespace mosaic
