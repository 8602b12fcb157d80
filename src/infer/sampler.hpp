// Picks the next token from a row of logits, with llama.cpp's knobs in llama.cpp's order:
// the repeat penalty on the recent tokens, then greedy at temperature 0, else softmax with
// temperature, top-k, top-p (nucleus, sorting only the tokens above llama2.c's cutoff) and
// min-p. Not a generator: see generate.hpp.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.hpp"

namespace mosaic {

// What a caller calls the knobs in its errors: flags (`mosaic sample`) or argument names.
struct SamplerNames {
  const char *temperature = "temperature", *top_k = "top_k", *top_p = "top_p", *min_p = "min_p",
             *repeat_penalty = "repeat_penalty", *repeat_last_n = "repeat_last_n";
};

struct SamplerConfig {
  double temperature = 1.0;     // 0: greedy (argmax)
  int top_k = 0;                // 0: off
  double top_p = 1.0;           // in (0, 1]; 1: off
  double min_p = 0.0;           // in [0, 1]: drop tokens below min_p x the top token's probability; 0: off
  double repeat_penalty = 1.0;  // > 0; 1: off. A recent token's logit z becomes z / penalty if z > 0, else z * penalty
  int repeat_last_n = 64;       // how many recent tokens the penalty looks at

  // Error with a hint, naming the knob as `names` does, when a knob is out of its range.
  void validate(const SamplerNames& names = {}) const;
};

// `mosaic sample`'s defaults, which the Python module's generate and stream share.
inline constexpr SamplerConfig kSampleDefaults{0.8, 0, 1.0, 0.0, 1.0, 64};

class Sampler {
 public:
  explicit Sampler(SamplerConfig config) : config_(config) {}
  // logits: V entries (only the first `vocab` are candidates, e.g. 50257 of a padded 50304).
  // history: the tokens so far (the penalty reads its last repeat_last_n).
  int32_t sample(const float* logits, int vocab, Rng& rng, std::span<const int32_t> history = {});
  const SamplerConfig& config() const { return config_; }

 private:
  const float* penalized(const float* logits, int vocab, std::span<const int32_t> history);

  SamplerConfig config_;
  std::vector<std::pair<float, int32_t>> candidates_;  // reused: no allocation per token
  std::vector<float> adjusted_;                        // logits after the repeat penalty
};

}  // namespace mosaic
