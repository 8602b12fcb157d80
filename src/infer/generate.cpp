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

GenerationStats generate_streaming(TokenStream& stream, std::span<const int32_t> prompt, int n, int vocab_limit,
                                   Sampler& sampler, Rng& rng, const std::function<void(int32_t)>& on_token,
                                   int32_t stop_token) {
  MOSAIC_CHECK(!prompt.empty(), "empty prompt", "give at least one token (e.g. an empty -p starts from <|endoftext|>)");
  stream.reset();
  return continue_streaming(stream, prompt, n, vocab_limit, sampler, rng, on_token, stop_token);
}

GenerationStats continue_streaming(TokenStream& stream, std::span<const int32_t> prompt, int n, int vocab_limit,
                                   Sampler& sampler, Rng& rng, const std::function<void(int32_t)>& on_token,
                                   int32_t stop_token, bool feed_last) {
  using clock = std::chrono::steady_clock;
  const int limit = std::min(vocab_limit, stream.vocab_size());
  GenerationStats stats;
  stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  const auto t0 = clock::now();
  const float* logits = prompt.empty() ? stream.last_logits() : stream.push_many(prompt.data(), static_cast<int>(prompt.size()));
  const auto t1 = clock::now();
  std::vector<int32_t> history(prompt.begin(), prompt.end());  // what the repeat penalty reads
  history.reserve(prompt.size() + static_cast<size_t>(n));
  int i = 0;
  while (i < n) {
    const int32_t next = sampler.sample(logits, limit, rng, history);
    ++i;
    const bool stop = next == stop_token;
    if (!stop) {
      if (on_token) on_token(next);
      history.push_back(next);
    }
    if ((i < n && !stop) || feed_last) logits = stream.push(next);
    if (stop) break;
  }
  stats.generated = i;
  stats.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
  stats.generate_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return stats;
}

void advance_streams(std::span<TokenStream* const> streams, std::span<const int32_t> tokens, float* features, int C) {
  const int m = static_cast<int>(streams.size());
  std::vector<std::string> errors(m);  // an Error may not leave the parallel loop
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < m; ++i) {
    try {
      const float* f = streams[i]->advance(&tokens[i], 1);
      std::copy_n(f, C, features + static_cast<int64_t>(i) * C);
    } catch (const Error& e) {
      errors[i] = e.what();
    }
  }
  for (const auto& e : errors) MOSAIC_CHECK(e.empty(), e, "a bug: sampled tokens are inside the vocabulary");
}

GenerationStats generate_streaming_batch(std::span<TokenStream* const> streams, VocabHead& head,
                                         std::span<const std::vector<int32_t>> prompts, int n, int vocab_limit,
                                         Sampler& sampler, std::span<Rng> rngs,
                                         const std::function<void(int, int32_t)>& on_token,
                                         const std::function<void(int)>& on_done, int32_t stop_token) {
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
  const auto t0 = clock::now();
  for (int i = 0; i < m; ++i) {
    MOSAIC_CHECK(!prompts[i].empty(), "empty prompt", "give at least one token (e.g. an empty -p starts from <|endoftext|>)");
    streams[i]->reset();
    const float* f = streams[i]->advance(prompts[i].data(), static_cast<int>(prompts[i].size()));
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
    head.project_batch(features.data(), a, logits.data());
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
