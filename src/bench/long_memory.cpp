// Long-memory measurements: prefilled stores timed per backend (the prefill parallel over the
// stores, each store's insertions in order), and real text streamed once exactly and once per
// approximate setting with the audit on, the per-position losses paired.
#include "bench/long_memory.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>

#include "core/rng.hpp"
#include "infer/stream.hpp"
#include "kernels/softmax.hpp"
#include "kernels/vector_math.hpp"

namespace mosaic {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Resident set size of this process, in bytes (Linux; 0 without procfs). Memory an earlier
// measurement freed is handed back first (glibc keeps freed heap pages resident), so that a
// difference counts what was added, not what was reused.
double resident_bytes() {
  malloc_trim(0);
  std::ifstream statm("/proc/self/statm");
  double total = 0, resident = 0;
  statm >> total >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// Every unbounded store gets `pairs` pairs stored before the stream's first position: keys
// uniform on the unit sphere (no structure for the index to use; a key's norm does not change
// the time), values normal. A bounded store (v2's short-term window) keeps its own few pairs.
// Room is reserved for `room` pairs (the ones to follow too), so that no store grows (a grown
// store's zeroed capacity would count as resident).
void prefill(ModelStream<float>& stream, int64_t pairs, int64_t room, uint64_t seed) {
  const std::vector<MemoryStore<float>*> stores = stream.memory_stores();
#pragma omp parallel for schedule(dynamic)
  for (size_t s = 0; s < stores.size(); ++s) {
    MemoryStore<float>& store = *stores[s];
    if (store.limit().max_pairs > 0) continue;
    const int hs = store.head_size();
    store.reserve(static_cast<int>(room));
    Rng rng(seed + s);
    std::vector<float> key(hs), value(hs);
    for (int64_t i = 0; i < pairs; ++i) {
      double norm = 0;
      for (auto& x : key) {
        x = static_cast<float>(rng.normal());
        norm += static_cast<double>(x) * x;
      }
      for (auto& x : key) x = static_cast<float>(x / std::sqrt(norm));
      for (auto& x : value) x = static_cast<float>(rng.normal());
      store.add(key.data(), value.data(), i - pairs);
    }
  }
}

LongMemorySpeedCell time_prefilled(const LanguageModel<float>& model, const RetrievalOptions& retrieval, int64_t pairs,
                                   int tokens, int threads) {
  LongMemorySpeedCell cell;
  const double before = resident_bytes();
  StreamOptions options;
  options.retrieval = retrieval;
  options.threads = threads;
  auto stream = make_stream(model, options);
  const auto t0 = Clock::now();
  constexpr int kPrompt = 64;
  prefill(stream->state(), pairs, pairs + kPrompt + tokens, 7);
  cell.prefill_s = seconds_since(t0);
  int64_t stored = 0;
  for (const MemoryStore<float>* s : stream->state().memory_stores()) stored += s->limit().max_pairs > 0 ? 0 : s->size();
  cell.bytes_per_pair = (resident_bytes() - before) / static_cast<double>(std::max<int64_t>(stored, 1));
  Rng rng(1000);
  std::vector<int32_t> prompt(kPrompt);
  for (auto& t : prompt) t = static_cast<int32_t>(rng.below(std::min(model.config().vocab_size, 50257)));
  const float* logits = stream->push_many(prompt.data(), static_cast<int>(prompt.size()));
  double pushing = 0;
  for (int i = 0; i < tokens; ++i) {
    const int32_t next = argmax(logits, stream->vocab_size());
    const auto t1 = Clock::now();
    logits = stream->push(next);
    pushing += seconds_since(t1);
  }
  cell.tokens_per_s = tokens / pushing;
  return cell;
}

// One stream over the tokens: the loss of every next token (losses[t]: predicting tokens[t + 1]),
// whether an approximate query answered at t, and the audit of every store.
RetrievalQualityRun stream_losses(const LanguageModel<float>& model, std::span<const int32_t> tokens, const MemoryLimit& limit,
                                  const RetrievalOptions& retrieval, int threads, std::vector<float>& losses,
                                  std::vector<char>& approximate) {
  RetrievalQualityRun run;
  run.retrieval = retrieval;
  StreamOptions options;
  options.memory = limit;
  options.retrieval = retrieval;
  options.retrieval.audit = retrieval.backend == MemoryBackend::Approximate;
  options.threads = threads;
  auto stream = make_stream(model, options);
  const std::vector<MemoryStore<float>*> stores = stream->state().memory_stores();
  const int V = model.config().vocab_size;
  const size_t n = tokens.size() - 1;
  losses.assign(n, 0.0f);
  approximate.assign(n, 0);
  std::vector<float> logits(V);
  const auto t0 = Clock::now();
  int64_t audited = 0;
  for (size_t t = 0; t < n; ++t) {
    const float* z = stream->push(tokens[t]);
    std::copy_n(z, V, logits.data());
    cross_entropy_rows(logits.data(), &losses[t], &tokens[t + 1], 1, V, 0.0f);
    int64_t now = 0;
    for (const MemoryStore<float>* s : stores) now += s->audit().queries;
    approximate[t] = now > audited;
    audited = now;
  }
  run.seconds = seconds_since(t0);
  const int L = model.config().n_layer;
  const size_t per_layer = stores.size() / L;  // layer by layer, as many stores in each
  RetrievalAudit audit;
  for (int l = 0; l < L; ++l) {
    RetrievalAudit layer;
    for (size_t i = l * per_layer; i < (l + 1) * per_layer; ++i) layer += stores[i]->audit();
    run.recall_by_layer.push_back(layer.queries ? layer.recall / layer.queries : 0);
    run.tvd_by_layer.push_back(layer.queries ? layer.tvd / layer.queries : 0);
    audit += layer;
  }
  run.queries = audit.queries;
  if (audit.queries) {
    run.recall = audit.recall / audit.queries;
    run.tvd = audit.tvd / audit.queries;
  }
  return run;
}

// The run's loss on the compared positions, exact retrieval's there, and their paired difference.
void pair_with_exact(RetrievalQualityRun& run, const std::vector<float>& losses, const std::vector<float>& exact_losses,
                     const std::vector<char>& compared) {
  double sum = 0, sum_exact = 0, sum_sq = 0;
  int64_t count = 0;
  for (size_t t = 0; t < losses.size(); ++t) {
    if (!compared[t]) continue;
    const double d = static_cast<double>(losses[t]) - exact_losses[t];
    sum += losses[t];
    sum_exact += exact_losses[t];
    sum_sq += d * d;
    ++count;
  }
  if (count == 0) return;
  run.positions = count;
  run.loss_approximate = sum / count;
  run.loss_exact_there = sum_exact / count;
  run.difference = (sum - sum_exact) / count;
  const double variance = std::max(0.0, sum_sq / count - run.difference * run.difference);
  run.difference_se = std::sqrt(variance / std::max<int64_t>(count - 1, 1));
}

}  // namespace

std::vector<LongMemorySpeedRow> measure_long_memory_speed(const LongMemorySpeedConfig& config,
                                                          const LanguageModel<float>& model,
                                                          const std::function<void(const LongMemorySpeedRow&)>& on_row) {
  std::vector<LongMemorySpeedRow> rows;
  for (int64_t pairs : config.pairs) {
    LongMemorySpeedRow& row = rows.emplace_back();
    row.pairs = pairs;
    for (const RetrievalOptions& backend : config.backends)
      row.cells.push_back(time_prefilled(model, backend, pairs, config.tokens, config.threads));
    if (on_row) on_row(row);
  }
  return rows;
}

std::vector<RetrievalQualityRun> measure_retrieval_quality(const LanguageModel<float>& model, std::span<const int32_t> tokens,
                                                           const std::vector<RetrievalOptions>& approximate, int window,
                                                           int threads,
                                                           const std::function<void(const RetrievalQualityRun&)>& on_run) {
  std::vector<RetrievalQualityRun> runs;
  std::vector<float> exact_losses, losses;
  std::vector<char> unused, compared;
  auto mean = [](const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
  };
  auto finish = [&](RetrievalQualityRun run) {
    run.loss = mean(losses);
    pair_with_exact(run, losses, exact_losses, compared);
    runs.push_back(run);
    if (on_run) on_run(runs.back());
  };
  RetrievalQualityRun exact = stream_losses(model, tokens, {}, RetrievalOptions{}, threads, exact_losses, unused);
  exact.name = "exact";
  exact.loss = mean(exact_losses);
  runs.push_back(exact);
  if (on_run) on_run(runs.back());
  for (const RetrievalOptions& r : approximate) {
    RetrievalQualityRun run = stream_losses(model, tokens, {}, r, threads, losses, compared);
    run.name = "approx K " + std::to_string(r.top_k) + " W " + std::to_string(r.recent);
    finish(run);
  }
  if (window > 0) {  // compared on the last approximate run's positions (or past the window)
    if (approximate.empty())
      for (size_t t = 0; t < compared.size(); ++t) compared[t] = t >= static_cast<size_t>(window);
    RetrievalQualityRun run = stream_losses(model, tokens, {window, Eviction::Oldest, 0.01f}, {}, threads, losses, unused);
    run.name = "exact, newest " + std::to_string(window);
    run.limit = window;
    finish(run);
  }
  return runs;
}

}  // namespace mosaic
