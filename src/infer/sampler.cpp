// Sampling: candidates are (probability, id); top-k, top-p and min-p cut them with partitions
// and partial sorts.
#include "infer/sampler.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "kernels/vector_math.hpp"

namespace mosaic {

void SamplerConfig::validate(const SamplerNames& names) const {
  using std::string;
  for (auto [name, value] : {std::pair{names.temperature, temperature}, {names.top_p, top_p}, {names.min_p, min_p},
                             {names.repeat_penalty, repeat_penalty}})
    MOSAIC_CHECK(std::isfinite(value), string(name) + " must be a finite number", "nan and inf are not: give a plain number");
  MOSAIC_CHECK(temperature >= 0, string(names.temperature) + " must be 0 or more", "0 is greedy (the most likely token)");
  MOSAIC_CHECK(top_k >= 0, string(names.top_k) + " must be 0 or more", "0 turns it off");
  MOSAIC_CHECK(top_p > 0 && top_p <= 1, string(names.top_p) + " must be in (0, 1]", "1 turns it off");
  MOSAIC_CHECK(min_p >= 0 && min_p <= 1, string(names.min_p) + " must be in [0, 1]", "0 turns it off");
  MOSAIC_CHECK(repeat_penalty > 0, string(names.repeat_penalty) + " must be positive", "1 turns it off");
  MOSAIC_CHECK(repeat_last_n >= 0, string(names.repeat_last_n) + " must be 0 or more", "e.g. 64");
}

// The logits with the repeat penalty applied to the distinct recent tokens (llama.cpp's rule),
// or the logits themselves when it is off or there is no history.
const float* Sampler::penalized(const float* logits, int vocab, std::span<const int32_t> history) {
  if (config_.repeat_penalty == 1.0 || history.empty() || config_.repeat_last_n <= 0) return logits;
  adjusted_.assign(logits, logits + vocab);
  const size_t n = std::min(history.size(), static_cast<size_t>(config_.repeat_last_n));
  const float penalty = static_cast<float>(config_.repeat_penalty);
  for (size_t i = history.size() - n; i < history.size(); ++i) {
    const int32_t t = history[i];
    if (t < 0 || t >= vocab) continue;
    bool seen = false;  // each distinct token once: a token three times is not penalised thrice
    for (size_t j = history.size() - n; j < i && !seen; ++j) seen = history[j] == t;
    if (seen) continue;
    adjusted_[t] = adjusted_[t] > 0 ? adjusted_[t] / penalty : adjusted_[t] * penalty;
  }
  return adjusted_.data();
}

int32_t Sampler::sample(const float* raw_logits, int vocab, Rng& rng, std::span<const int32_t> history) {
  const float* logits = penalized(raw_logits, vocab, history);
  if (config_.temperature <= 0) return argmax(logits, vocab);
  const float mx = lane_max(logits, vocab);
  candidates_.resize(vocab);
  double sum = 0;
  for (int i = 0; i < vocab; ++i) {
    const float p = std::exp((logits[i] - mx) / static_cast<float>(config_.temperature));
    candidates_[i] = {p, i};
    sum += p;
  }
  auto by_prob = [](const auto& a, const auto& b) { return a.first > b.first; };
  size_t keep = candidates_.size();
  if (config_.top_k > 0 && static_cast<size_t>(config_.top_k) < keep) {
    keep = config_.top_k;
    std::nth_element(candidates_.begin(), candidates_.begin() + keep, candidates_.end(), by_prob);
    sum = 0;
    for (size_t i = 0; i < keep; ++i) sum += candidates_[i].first;
  }
  if (config_.top_p < 1.0) {
    // The smallest set of most likely tokens whose mass reaches top_p (at least one). As in
    // llama2.c, a token below (1 - top_p) / (n - 1) of the mass cannot be in it (the others
    // would reach top_p without it), so only the tokens above that cutoff are sorted.
    const auto first = candidates_.begin();
    const double cutoff = keep > 1 ? (1.0 - config_.top_p) / static_cast<double>(keep - 1) * sum : 0.0;
    size_t above = std::partition(first, first + keep, [&](const auto& c) { return c.first >= cutoff; }) - first;
    if (above == 0) above = keep;  // a flat distribution with a tiny top_p: nothing to prune by
    std::sort(first, first + above, by_prob);
    double cum = 0;
    size_t n = 0;
    while (n < above && cum < config_.top_p * sum) cum += candidates_[n++].first;
    keep = std::max<size_t>(n, 1);
    sum = cum;
  }
  if (config_.min_p > 0) {
    // The top token's weight is exp(0) = 1 (the max was subtracted): keep weights >= min_p.
    const float floor = static_cast<float>(config_.min_p);
    const auto first = candidates_.begin();
    keep = std::max<size_t>(1, std::partition(first, first + keep, [&](const auto& c) { return c.first >= floor; }) - first);
    sum = 0;
    for (size_t i = 0; i < keep; ++i) sum += candidates_[i].first;
  }
  const double r = rng.uniform() * sum;
  double acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += candidates_[i].first;
    if (r < acc) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace mosaic
