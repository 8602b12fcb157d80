// A tiny ModelConfig for tests (a forward and backward pass in milliseconds), every size
// overridable by name, and a model of it with initialised weights. Not a fixture of any file
// format, not the gradient tests' shape table (op_cases.hpp).
// Shapes: V vocab_size, T block_size, L n_layer, H n_head, C n_embd (hs = C / H), P pmem_size.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/rng.hpp"
#include "models/config.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "models/language_model.hpp"

namespace mosaic::testing {

// The sizes of a tiny model. Override any of them by name, in this order (C++20 designated
// initialisers): tiny_config("gpt", {.vocab_size = 40, .block_size = 24, .n_embd = 32}).
struct TinySizes {
  int vocab_size = 32;  // V
  int block_size = 16;  // T
  int n_layer = 2;      // L
  int n_head = 2;       // H; must divide n_embd
  int n_embd = 16;      // C
  int pmem_size = 8;    // P, the Memory Mosaic's persistent slots (GPT ignores it)
};

// arch: "mosaic" (Memory Mosaic) or "gpt". Every other field keeps ModelConfig's default
// (pmem_count 1, bias on, no dropout, GPT's learned positions): set those on the result.
inline ModelConfig tiny_config(const std::string& arch = "mosaic", const TinySizes& sizes = {}) {
  ModelConfig c;
  c.arch = arch;
  c.vocab_size = sizes.vocab_size;
  c.block_size = sizes.block_size;
  c.n_layer = sizes.n_layer;
  c.n_head = sizes.n_head;
  c.n_embd = sizes.n_embd;
  c.pmem_size = sizes.pmem_size;
  return c;
}

// The lags of a Memory Mosaics v2 memory at a tiny scale: a short-term window h, the long-term
// delay drawn in [delay_min, delay_max] in training (max 0: no long-term memory) and `delay` at
// inference.
struct TinyV2 {
  int window = 8, delay_min = 4, delay_max = 12, delay = 5;
};

// `c` made a Memory Mosaics v2 (table-6 init, SwiGLU persistent memory, gated keys and adaptive
// bandwidth: set the ablations on the result).
inline ModelConfig with_v2(ModelConfig c, const TinyV2& v2 = {}) {
  c.short_term_window = v2.window;
  c.long_term_delay_min = v2.delay_min;
  c.long_term_delay_max = v2.delay_max;
  c.long_term_delay = v2.delay;
  c.init = "v2";
  c.pmem_kind = "swiglu";
  return c;
}

// A float model of `config` with weights initialised from `seed` (models/init.hpp), as a
// training run starts.
inline std::unique_ptr<LanguageModel<float>> tiny_model(const ModelConfig& config, uint64_t seed = 3) {
  auto model = make_model<float>(config);
  Rng rng(seed);
  init_parameters(model->params(), model->config(), rng);
  return model;
}

}  // namespace mosaic::testing
