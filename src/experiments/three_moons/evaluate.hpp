// Three-moons evaluation (paper figures 4-5): for each context length T, read x_0..x_{T-1},
// predict the next G observations autoregressively (each prediction is fed back), and report
// the mean absolute deviation from the truth. Not training. Shapes: N sequences sharing one
// period set, T context length, G generated steps, 6 reals per observation.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "experiments/three_moons/data.hpp"
#include "experiments/three_moons/model.hpp"

namespace mosaic::three_moons {

struct EvalConfig {
  int n_seqs = 512;    // sequences of one period set, each with its own random start
  int gen_steps = 25;  // G
  int ctx_stride = 1;  // evaluate T = 1, 1 + stride, ... (plus the marked T values)
};

// Error curve over context lengths. err_* are means over the N sequences of the per-sequence
// error (mean over G steps and 6 reals of |prediction - truth|); median_* the median over N.
// repeat_last is the same error for the predictor that repeats x_{T-1}.
struct EvalCurve {
  std::vector<int> ctx;
  std::vector<double> mean, median, repeat_last;
  double at(int T, bool use_median = false) const;  // value at context length T (must be present)
};

// The context lengths an EvalConfig visits on `data`: 1..L-G by stride, plus `extra` values.
std::vector<int> context_lengths(const MoonsData& data, const EvalConfig& ecfg, const std::vector<int>& extra);

// Evaluates on `set`, N sequences whose start points come from Rng(eval seed). Parallel over
// sequences; the result does not depend on the thread count. progress(done, total) may be empty.
EvalCurve evaluate(const MoonsModelConfig& mcfg, const float* params, const MoonsData& data, const PeriodSet& set,
                   const EvalConfig& ecfg, const std::vector<int>& ctx, uint64_t seed,
                   const std::function<void(int, int)>& progress = {});

}  // namespace mosaic::three_moons
