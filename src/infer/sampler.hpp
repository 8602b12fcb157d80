// Picks the next token from a row of logits: greedy at temperature 0, else softmax with
// temperature, optional top-k, then top-p (nucleus) without sorting the whole vocabulary.
// Not a generator: see generate.hpp.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.hpp"

namespace mosaic {

struct SamplerConfig {
  double temperature = 1.0;  // 0: greedy (argmax)
  int top_k = 0;             // 0: off
  double top_p = 1.0;        // in (0, 1]; 1: off
};

class Sampler {
 public:
  explicit Sampler(SamplerConfig config) : config_(config) {}
  // logits: V entries (only the first `vocab` are candidates, e.g. 50257 of a padded 50304).
  int32_t sample(const float* logits, int vocab, Rng& rng);

 private:
  SamplerConfig config_;
  std::vector<std::pair<float, int32_t>> candidates_;  // reused: no allocation per token
};

}  // namespace mosaic
