// Two models scored on the same windows (`mosaic eval --vs`): the difference of their losses,
// with intervals that use the pairing. Both models read the same documents, so most of each
// window's loss (how hard its text is) cancels in the difference; per-model standard errors
// would count it twice. The unit of independence is the window (positions within one share
// their text), so every interval resamples or averages over windows, never over tokens.
// Shapes: losses (windows, T), NaN where a target is not scored.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mosaic {

// Positions [begin, end) of the window, 0-based as in the per-position CSV.
struct PositionRange {
  int begin = 0, end = 0;
};

// "a:b,c:d" -> ranges; Error with a hint on bad syntax or a range outside [0, T) or empty.
std::vector<PositionRange> parse_position_ranges(const std::string& text, int T);
// The whole window and its four quarters (fewer where T < 4).
std::vector<PositionRange> default_position_ranges(int T);

struct PairedStat {
  PositionRange range;
  int64_t windows = 0, tokens = 0;  // windows with a scored target in the range; those targets
  double mean_a = 0, mean_b = 0;    // each model's mean loss over those targets (nats)
  double difference = 0;            // mean_a - mean_b
  double stderr_paired = 0;         // over windows (ratio estimator: windows may score different counts)
  double ci_low = 0, ci_high = 0;   // 95% percentile bootstrap over windows; the normal interval without
  bool bootstrapped = false;
};

struct PairedComparison {
  // (T): at each position, the windows that score it: each model's mean, their difference and
  // its paired standard error (sd of the per-window differences / sqrt(windows)).
  std::vector<double> mean_a, mean_b, difference, stderr_paired;
  std::vector<int64_t> windows;
  std::vector<PairedStat> ranges;
  int bootstrap_samples = 0;
  uint64_t bootstrap_seed = 0;
};

// a and b: (windows, T) losses of two models on the same windows (NaN in the same places).
// bootstrap_samples = 0 gives normal intervals (difference +- 1.96 stderr). Error with a hint
// when the shapes or the scored places differ.
PairedComparison compare_paired(std::span<const float> a, std::span<const float> b, int T,
                                std::span<const PositionRange> ranges, int bootstrap_samples, uint64_t seed);

// CSV: position,mean_loss_a,mean_loss_b,difference,paired_stderr,windows (rows with windows).
std::string paired_positions_csv(const PairedComparison& c);

}  // namespace mosaic
