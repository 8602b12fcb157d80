// Three-moons sequence generator: period table, scaling, sampling of start points.
// Not the model and not the evaluation; no state beyond the period table.
// Shapes: T = seq_len; one sequence = (T+1) x 6 reals (3 moons x [re, im]).
#include "experiments/three_moons/data.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"

namespace mosaic::three_moons {

namespace {

constexpr double kTwoPi = 6.283185307179586;

// The reference (ThreeMoons/planets.py) takes every 3-subset of the half-integer grid
// {0.5, ..., 3.5}, keeps the nine with the smallest full period lcm(p1, p2, p3), holds the last
// one out for validation and trains on the other eight. Five triples tie at lcm 6 for the
// last three places; this is the order numpy's argsort gave the reference, kept so that the
// validation triple is (1, 2, 3) and the training evaluation triple (index 5) is (0.5, 1, 2.5).
// tests/test_three_moons.cpp checks that these are nine smallest-lcm candidates.
constexpr std::array<std::array<double, kMoons>, 9> kReferenceTriples = {{
    {0.5, 1.0, 2.0},
    {0.5, 1.0, 1.5},
    {0.5, 1.5, 3.0},
    {1.0, 1.5, 3.0},
    {0.5, 1.0, 3.0},
    {0.5, 1.0, 2.5},
    {0.5, 1.5, 2.0},
    {1.5, 2.0, 3.0},
    {1.0, 2.0, 3.0},  // validation
}};

double lcm_of(const std::array<double, kMoons>& r) { return lcm_tenths(lcm_tenths(r[0], r[1]), r[2]); }

}  // namespace

double PeriodSet::max_steps() const { return *std::max_element(steps.begin(), steps.end()); }

double lcm_tenths(double a, double b) {
  const auto ia = static_cast<long long>(std::llround(a * 10.0));
  const auto ib = static_cast<long long>(std::llround(b * 10.0));
  return static_cast<double>(std::lcm(ia, ib)) / 10.0;
}

std::vector<std::array<double, kMoons>> candidate_triples() {
  const double grid[] = {0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5};
  std::vector<std::array<double, kMoons>> out;
  for (int a = 0; a < 7; ++a)
    for (int b = a + 1; b < 7; ++b)
      for (int c = b + 1; c < 7; ++c) out.push_back({grid[a], grid[b], grid[c]});
  return out;
}

MoonsData::MoonsData(const DataConfig& cfg) : cfg_(cfg) {
  MOSAIC_CHECK(cfg.seq_len >= 8, "three moons: seq_len must be at least 8, got " + std::to_string(cfg.seq_len),
               "the reference uses 800");
  MOSAIC_CHECK(cfg.min_cycles >= 1, "three moons: min_cycles must be positive", "the reference uses 3");
  MOSAIC_CHECK(cfg.time_points > 2 * cfg.seq_len + 1, "three moons: time_points must exceed 2*seq_len+1",
               "the reference uses 10000 time points for 800-step sequences");
  double max_lcm = 0;
  for (const auto& r : kReferenceTriples) max_lcm = std::max(max_lcm, lcm_of(r));
  // Time scale: the longest full period fits exactly min_cycles times into one sequence.
  steps_per_unit_ = cfg.seq_len / (max_lcm * cfg.min_cycles);
  std::vector<PeriodSet> all;
  for (const auto& r : kReferenceTriples) {
    PeriodSet s;
    s.ratio = r;
    s.lcm_ratio = lcm_of(r);
    for (int k = 0; k < kMoons; ++k) s.steps[k] = r[k] * steps_per_unit_;
    s.lcm_steps = s.lcm_ratio * steps_per_unit_;
    all.push_back(s);
  }
  val_ = all.back();
  all.pop_back();
  train_ = std::move(all);
}

int MoonsData::start_count() const { return cfg_.time_points - 2 * cfg_.seq_len - 1; }

int64_t MoonsData::sample_start(Rng& rng) const { return static_cast<int64_t>(rng.below(start_count())); }

int MoonsData::sample_train_index(Rng& rng) const { return static_cast<int>(rng.below(train_.size())); }

template <class F>
void MoonsData::fill(const PeriodSet& set, int64_t start, F* out) const {
  const int n = cfg_.seq_len + 1;
  for (int t = 0; t < n; ++t) {
    const double time = static_cast<double>(start + t);
    for (int k = 0; k < kMoons; ++k) {
      const double angle = kTwoPi * time / set.steps[k] + cfg_.phase;
      out[t * kObsDim + 2 * k] = static_cast<F>(std::cos(angle));
      out[t * kObsDim + 2 * k + 1] = static_cast<F>(std::sin(angle));
    }
  }
}

template void MoonsData::fill<float>(const PeriodSet&, int64_t, float*) const;
template void MoonsData::fill<double>(const PeriodSet&, int64_t, double*) const;

}  // namespace mosaic::three_moons
