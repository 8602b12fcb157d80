// Generation timing: a random prompt of each context length, then greedy tokens, each path
// on the same prompt, each after a warm-up (threads started, buffers allocated, pages touched).
// Streams time each of `tokens` pushes after the prompt (the argmax is outside the timed part,
// as it is the same for every path); full recomputation times whole generate() steps.
#include "bench/generation.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <span>

#include "core/rng.hpp"
#include "infer/generate.hpp"
#include "infer/stream.hpp"
#include "kernels/vector_math.hpp"
#include "models/factory.hpp"

namespace mosaic {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct StreamTiming {
  double generated = 0, prompt = 0;  // tokens/s
};

// Generated tokens/s over `tokens` pushes after the prompt (a mean, so GPT's occasional window
// re-encoding counts; the argmax between pushes is not timed). Also the prompt's tokens/s.
// Before the timings, a short prompt and one token (not timed): the threads start and the
// stream's buffers are touched once, as in any run past its first prompt.
void warm_up(TokenStream& s, const std::vector<int32_t>& prompt) {
  s.reset();
  s.push_many(prompt.data(), static_cast<int>(std::min<size_t>(prompt.size(), 64)));
  s.push(prompt[0]);
}

StreamTiming time_stream(TokenStream& s, const std::vector<int32_t>& prompt, int tokens) {
  warm_up(s, prompt);
  s.reset();
  const auto t0 = Clock::now();
  const float* logits = s.push_many(prompt.data(), static_cast<int>(prompt.size()));
  StreamTiming r;
  r.prompt = prompt.size() / seconds_since(t0);
  double pushing = 0;
  for (int i = 0; i < tokens; ++i) {
    const int32_t next = argmax(logits, s.vocab_size());
    const auto t1 = Clock::now();
    logits = s.push(next);
    pushing += seconds_since(t1);
  }
  r.generated = tokens / pushing;
  return r;
}

// A batch of streams, each fed its own prompt (the prompt rotated by the stream's index), then
// `tokens` greedy tokens each by generate_streaming_batch, the loop `sample --num-samples`
// runs (its time includes the argmax of every step). Tokens/s of all streams together.
StreamTiming time_batch(std::span<const std::unique_ptr<TokenStream>> streams, const std::vector<int32_t>& prompt,
                        int tokens) {
  std::vector<TokenStream*> raw;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<Rng> rngs;
  for (const auto& s : streams) {
    warm_up(*s, prompt);
    raw.push_back(s.get());
    prompts.push_back(prompt);
    std::rotate(prompts.back().begin(), prompts.back().begin() + (prompts.size() - 1) % prompt.size(), prompts.back().end());
    rngs.emplace_back(0);
  }
  Sampler greedy({0.0, 0, 1.0});
  const GenerationStats stats = generate_streaming_batch(raw, streams[0]->head(), prompts, tokens,
                                                         streams[0]->vocab_size(), greedy, rngs);
  return {stats.generated_per_s(), stats.prompt_tokens_per_s()};
}

double time_recompute(LanguageModel<float>& model, const std::vector<int32_t>& prompt, int tokens) {
  Sampler greedy({0.0, 0, 1.0});
  Rng rng(0);
  std::vector<int32_t> context = prompt;
  generate(model, context, 1, model.config().vocab_size, greedy, rng);  // warm-up
  const auto t0 = Clock::now();
  generate(model, context, tokens, model.config().vocab_size, greedy, rng);
  return tokens / seconds_since(t0);
}

}  // namespace

GenerateBenchResult measure_generation(const GenerateBenchConfig& cfg, const LanguageModel<float>* mosaic,
                                       LanguageModel<float>* gpt,
                                       const std::function<void(const GenerateBenchResult&, size_t)>& on_row) {
  GenerateBenchResult result;
  result.contexts = cfg.contexts;
  const size_t n = cfg.contexts.size();
  const int longest = n ? *std::max_element(cfg.contexts.begin(), cfg.contexts.end()) : 0;
  auto add_path = [&](const std::string& name, const std::string& note) -> GeneratePath& {
    result.paths.push_back({name, std::vector<double>(n, 0.0), std::vector<double>(n, 0.0), note});
    return result.paths.back();
  };
  std::unique_ptr<TokenStream> free_stream, bf16_stream, bounded_stream, gpt_stream;
  std::vector<std::unique_ptr<TokenStream>> batch;
  std::unique_ptr<LanguageModel<float>> mosaic_recompute;
  StreamOptions options;
  options.threads = cfg.threads;
  if (mosaic) {
    free_stream = make_stream(*mosaic, options);
    add_path("mosaic-stream", free_stream->describe());
    StreamOptions bf16 = options;
    bf16.head = HeadPrecision::Bf16;
    bf16_stream = make_stream(*mosaic, bf16);
    add_path("mosaic-stream-bf16", bf16_stream->describe() + " (same argmax as fp32)");
    StreamOptions bounded = options;
    bounded.memory = cfg.limit;
    bounded_stream = make_stream(*mosaic, bounded);
    add_path("mosaic-stream-limit" + std::to_string(cfg.limit.max_pairs), bounded_stream->describe());
  }
  if (mosaic && cfg.batch > 1) {
    for (int i = 0; i < cfg.batch; ++i) batch.push_back(make_stream(*mosaic, options));
    const std::string b = "mosaic-batch" + std::to_string(cfg.batch);
    add_path(b + "-all", batch[0]->describe() + ", " + std::to_string(cfg.batch) +
                             " streams with one vocabulary product per step: tokens/s of all");
    add_path(b + "-each", "the same, tokens/s of each stream");
  }
  if (gpt) {
    gpt_stream = make_stream(*gpt, options);
    add_path("gpt-kv", gpt_stream->describe());
  }
  const int recompute_block = std::min(longest, cfg.recompute_max) + cfg.recompute_tokens + 1;
  if (mosaic && cfg.recompute_max > 0) {
    mosaic_recompute = with_block_size(*mosaic, recompute_block);
    add_path("mosaic-recompute", "full forward per token, contexts <= " + std::to_string(cfg.recompute_max));
  }
  if (gpt && cfg.recompute_max > 0)
    add_path("gpt-recompute", "full forward per token, contexts <= " + std::to_string(cfg.recompute_max) +
                                  " and inside block_size " + std::to_string(gpt->config().block_size));
  const int vocab = mosaic ? mosaic->config().vocab_size : (gpt ? gpt->config().vocab_size : 1);
  for (size_t i = 0; i < n; ++i) {
    const int L = cfg.contexts[i];
    Rng rng(1000 + L);
    std::vector<int32_t> prompt(L);
    for (auto& t : prompt) t = static_cast<int32_t>(rng.below(std::min(vocab, 50257)));
    size_t p = 0;  // paths in the order added above
    auto record = [&](const StreamTiming& t, int streams) {
      result.paths[p].tokens_per_s[i] = t.generated / streams;
      result.paths[p++].prompt_tokens_per_s[i] = t.prompt / streams;
    };
    for (TokenStream* s : {free_stream.get(), bf16_stream.get(), bounded_stream.get()})
      if (s) record(time_stream(*s, prompt, cfg.tokens), 1);
    if (!batch.empty()) {
      const StreamTiming t = time_batch(batch, prompt, cfg.tokens);
      record(t, 1);
      record(t, cfg.batch);
    }
    if (gpt_stream) record(time_stream(*gpt_stream, prompt, cfg.tokens), 1);
    if (mosaic_recompute) {
      if (L <= cfg.recompute_max) result.paths[p].tokens_per_s[i] = time_recompute(*mosaic_recompute, prompt, cfg.recompute_tokens);
      ++p;
    }
    if (gpt && cfg.recompute_max > 0) {
      if (L <= cfg.recompute_max && L + cfg.recompute_tokens + 1 <= gpt->config().block_size)
        result.paths[p].tokens_per_s[i] = time_recompute(*gpt, prompt, cfg.recompute_tokens);
      ++p;
    }
    if (on_row) on_row(result, i);
  }
  return result;
}

}  // namespace mosaic
