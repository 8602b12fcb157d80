// Measurements behind `mosaic bench generate`: generated tokens/s against context length for
// each inference path (the streaming Memory Mosaic with and without a memory bound, the GPT
// with its KV cache, a batch of mosaic streams sharing one vocabulary product per step, and both
// models by full recomputation). Not timed tests: nothing asserts.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "layers/memory_store.hpp"
#include "models/language_model.hpp"

namespace mosaic {

struct GenerateBenchConfig {
  std::vector<int> contexts{64, 128, 256, 512, 1024, 2048, 4096};
  int tokens = 32;             // generated per streaming measurement, after a prompt of `context` tokens
  int recompute_tokens = 2;    // per full-recompute measurement (each one is a whole forward), after one warm-up
  int recompute_max = 1024;    // longest context for full recomputation (T x T and T x V buffers)
  MemoryLimit limit{256, Eviction::Oldest, 0.01f};  // the bounded mosaic's column
  int batch = 0;               // > 1: also this many mosaic streams together (per stream and in all)
  int threads = 0;
};

struct GeneratePath {
  std::string name;
  std::vector<double> tokens_per_s;         // per context, wall clock; 0 when not measured (see note)
  std::vector<double> prompt_tokens_per_s;  // streaming paths: prompt processing at that context
  std::string note;
};

struct GenerateBenchResult {
  std::vector<int> contexts;
  std::vector<GeneratePath> paths;
};

// mosaic and gpt must outlive the call; either may be null (its columns are left out). gpt's
// own forward runs for its recompute column; the mosaic's runs on a copy with block_size
// raised (it has no positional parameter) so that it recomputes the whole context.
// on_row (may be empty) sees the result after each context, for progress output.
GenerateBenchResult measure_generation(const GenerateBenchConfig& config, const LanguageModel<float>* mosaic,
                                       LanguageModel<float>* gpt,
                                       const std::function<void(const GenerateBenchResult&, size_t)>& on_row = {});

}  // namespace mosaic
