// Measurements behind docs/long_memory.md: approximate retrieval against exact in Memory Mosaic
// streams. Speed (`mosaic bench generate --pairs`): generated tokens/s with every contextual-
// memory head prefilled with N synthetic pairs, and the resident memory those pairs take.
// Quality (`mosaic bench retrieval`): a model streamed over real text once exactly and once per
// approximate setting, with the loss of every next token, recall@K of the index against the true
// top-K, and the total-variation distance between exact and approximate retrieval weights.
// Not timed tests: nothing asserts.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "layers/memory_store.hpp"
#include "models/language_model.hpp"

namespace mosaic {

// ---- speed: prefilled memories ----

struct LongMemorySpeedConfig {
  std::vector<int64_t> pairs{16384, 131072, 1048576};  // per head of every contextual memory
  std::vector<RetrievalOptions> backends;              // a column each
  int tokens = 16;                                     // greedy tokens timed after the prefill
  int threads = 0;
};

struct LongMemorySpeedCell {
  double tokens_per_s = 0;
  double bytes_per_pair = 0;  // resident memory the prefill added, per stored pair
  double prefill_s = 0;       // wall time of the prefill (index insertions included)
};

struct LongMemorySpeedRow {
  int64_t pairs = 0;
  std::vector<LongMemorySpeedCell> cells;  // one per backend
};

// Every unbounded store of a fresh stream gets `pairs` pairs (random keys: no structure for an
// index to use), a random prompt of 64 tokens follows, then `tokens` greedy tokens are timed.
// on_row sees each row as it completes.
std::vector<LongMemorySpeedRow> measure_long_memory_speed(const LongMemorySpeedConfig& config,
                                                          const LanguageModel<float>& model,
                                                          const std::function<void(const LongMemorySpeedRow&)>& on_row = {});

// ---- quality: real text ----

struct RetrievalQualityRun {
  std::string name;
  RetrievalOptions retrieval;
  int limit = 0;                     // > 0: exact retrieval over the newest `limit` pairs only
  double loss = 0;                   // mean next-token loss over the stream
  // Over the positions where an approximate query answered (past min_pairs; for a bounded run,
  // the last approximate run's): this run's mean loss, exact retrieval's on the same positions,
  // the mean paired difference and its standard error (positions treated as independent, which
  // they are not: a lower bound).
  double loss_approximate = 0, loss_exact_there = 0;
  double difference = 0, difference_se = 0;
  int64_t positions = 0;
  double recall = 0, tvd = 0;        // means over the audited approximate queries (every head)
  std::vector<double> recall_by_layer, tvd_by_layer;  // the same per layer
  int64_t queries = 0;
  double seconds = 0;
};

// The model streamed over tokens exactly, then once per entry of `approximate` (each audited),
// then, with window > 0, exactly over the newest `window` pairs only (what less context alone
// does), every position's next-token loss kept. on_run sees each run as it completes.
std::vector<RetrievalQualityRun> measure_retrieval_quality(const LanguageModel<float>& model, std::span<const int32_t> tokens,
                                                           const std::vector<RetrievalOptions>& approximate, int window,
                                                           int threads,
                                                           const std::function<void(const RetrievalQualityRun&)>& on_run = {});

}  // namespace mosaic
