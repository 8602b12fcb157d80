// Three-moons data (paper section 3): an observation is three unit complex numbers, the
// angular positions of three moons turning at different periods. Not a file loader, not the model.
// Shapes: T sequence length (800); a sequence holds T+1 observations x_0..x_T, each 6 reals
// laid out [moon 0 re, moon 0 im, moon 1 re, ...], so inputs are x_0..x_{T-1}, targets x_1..x_T.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/rng.hpp"

namespace mosaic::three_moons {

inline constexpr int kMoons = 3;
inline constexpr int kObsDim = 2 * kMoons;  // reals per observation

// One set of three periods. `ratio` is on the reference's half-integer grid; `steps` is the
// same in time steps after scaling, `lcm_steps` the full period of the triple in time steps.
struct PeriodSet {
  std::array<double, kMoons> ratio{};
  double lcm_ratio = 0;
  std::array<double, kMoons> steps{};
  double lcm_steps = 0;
  double max_steps() const;
};

struct DataConfig {
  int seq_len = 800;        // T, observations the model reads
  int min_cycles = 3;       // every sequence covers >= min_cycles full periods lcm(p1, p2, p3)
  int time_points = 10000;  // the reference's time axis: start points lie in [0, time_points - 2T - 1)
  double phase = 0.3;       // initial angle of every moon at time 0 (radians)
};

// lcm of positive numbers given to one decimal (0.5, 1.5, ...): the reference's lcm_float.
double lcm_tenths(double a, double b);

// The reference's candidate triples: all 35 three-subsets of {0.5, 1, ..., 3.5}.
std::vector<std::array<double, kMoons>> candidate_triples();

// The separate random streams of one seed: parameter init, training batches, evaluation
// start points. Each concern owns its stream so that one never shifts another.
inline Rng init_stream(uint64_t seed) { return Rng(seed ^ 0x1A1D000000000000ull); }
inline Rng data_stream(uint64_t seed) { return Rng(seed ^ 0xDA7A000000000000ull); }
inline Rng eval_stream(uint64_t seed) { return Rng(seed ^ 0xE7A1000000000000ull); }

class MoonsData {
 public:
  explicit MoonsData(const DataConfig& cfg = {});

  const DataConfig& config() const { return cfg_; }
  const std::vector<PeriodSet>& train_sets() const { return train_; }
  const PeriodSet& val_set() const { return val_; }
  // The training triple the reference evaluates on (its `get_batch_with_shifted_startpoint(5)`).
  const PeriodSet& train_eval_set() const { return train_[kTrainEvalIndex]; }
  double steps_per_unit() const { return steps_per_unit_; }
  int start_count() const;  // number of possible start points

  // Writes the T+1 observations of one sequence, (T+1) x 6 reals, into out.
  template <class F>
  void fill(const PeriodSet& set, int64_t start, F* out) const;
  // Draws a start point, then (for training batches) a triple index, from the data stream.
  int64_t sample_start(Rng& rng) const;
  int sample_train_index(Rng& rng) const;

  static constexpr int kTrainEvalIndex = 5;

 private:
  DataConfig cfg_;
  double steps_per_unit_ = 0;
  std::vector<PeriodSet> train_;
  PeriodSet val_;
};

}  // namespace mosaic::three_moons
