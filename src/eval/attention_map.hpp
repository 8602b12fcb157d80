// Looking inside a trained model (`mosaic attention`; the paper's figures 12, 13 and 15):
// - maps: the weights of a window's last position over every earlier position, averaged over
//   many windows of a text, per layer and head: GPT's attention probabilities, the Memory
//   Mosaic's retrieval weights (stored pairs j < T - 1: a value has seen the token after it);
// - per head, computed once: the mass on the last positions, the width of the recency peak and
//   the mean distance, beside the Memory Mosaic's leaky-average decay and its time constant;
// - explain: for each position of a short text and each head, the stored pairs it weighted most.
// Windows longer than the model's block_size run on a copy with a longer block_size (a Memory
// Mosaic, or a GPT with rope / alibi); learned positions refuse with an error and a hint.
// Shapes: tokens (n); a window is tokens [k T, k T + T] (T inputs and their T targets).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "models/language_model.hpp"

namespace mosaic {

struct AttentionMapOptions {
  int context = 0;          // T; 0: the model's block_size
  int batch = 8;            // windows per forward
  int64_t max_windows = 0;  // 0: every window of the text
};

// The share of the mass `mosaic attention` reports on the last positions: the last 10%.
inline constexpr double kLastFraction = 0.1;

struct HeadMap {
  int layer = 0, head = 0;
  std::vector<double> weight;  // (T): the last position's mean weight on position j
  // Summaries of weight (the functions below), computed once by attention_maps:
  double mass_last = 0;      // mass_on_last(weight, kLastFraction)
  int half_width = 0;        // half_mass_width(weight)
  double distance = 0;       // mean_distance(weight)
  // Memory Mosaic only (NaN for GPT): the contextual key extractor's leaky-average decay
  // exp(-10 |beta_h|) (kbar_t = k~_t + decay kbar_{t-1}), its time constant
  // (leaky_time_constant) and its key scale.
  double decay = 0, time_constant = 0, key_scale = 0;
};

struct AttentionMaps {
  int context = 0;
  int64_t windows = 0;
  bool sees_self = false;  // the last position weighs itself (GPT) or not (memory)
  double mean_loss = 0;    // of the same windows, nats per token
  std::vector<HeadMap> heads;  // layer-major
};

AttentionMaps attention_maps(LanguageModel<float>& model, std::span<const uint16_t> tokens,
                             const AttentionMapOptions& options,
                             const std::function<void(int64_t, int64_t)>& progress = {});

// Summaries of one map (weights over positions 0 .. T-1 of a window; distance = T-1-j):
double mass_on_last(std::span<const double> weight, double fraction);  // on the last ceil(fraction T) positions
int half_mass_width(std::span<const double> weight);  // fewest last positions holding half the mass
double mean_distance(std::span<const double> weight);  // sum_j w_j (T - 1 - j) / sum_j w_j
// 1 / (1 - decay): the leaky average's time constant ("memory length") in tokens; NaN stays NaN.
double leaky_time_constant(double decay);

// What each head retrieved at every position of one window (the first min(n - 1, context or
// n - 1) tokens of `tokens`): the `top` positions j with the largest weights, heaviest first.
struct Retrieval {
  int position = 0;
  double weight = 0;
};
struct PositionRetrievals {
  int layer = 0, head = 0, position = 0;
  std::vector<Retrieval> top;
};
struct Explanation {
  int tokens = 0;  // positions explained
  bool sees_self = false;
  std::vector<PositionRetrievals> rows;  // layer, head, position order
};
Explanation explain_attention(LanguageModel<float>& model, std::span<const uint16_t> tokens, int top, int context = 0);

}  // namespace mosaic
