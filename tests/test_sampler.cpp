// The sampler against a brute-force nucleus: top-p keeps exactly the smallest set of most
// likely tokens whose mass reaches p (found here with a full sort), in proportion; the
// cutoff that spares the full sort must not drop any of them, nor fail on a flat distribution.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "core/rng.hpp"
#include "infer/sampler.hpp"

namespace mosaic {
namespace {

// Ids of the nucleus of softmax(logits) at top_p, by a full sort.
std::set<int32_t> nucleus(const std::vector<float>& logits, double top_p) {
  std::vector<double> p(logits.size());
  const float mx = *std::max_element(logits.begin(), logits.end());
  for (size_t i = 0; i < p.size(); ++i) p[i] = std::exp(static_cast<double>(logits[i] - mx));
  const double sum = std::accumulate(p.begin(), p.end(), 0.0);
  std::vector<int32_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  std::set<int32_t> out;
  double cum = 0;
  for (int32_t id : order) {
    if (cum >= top_p * sum) break;
    cum += p[id];
    out.insert(id);
  }
  return out;
}

TEST(Sampler, TopPKeepsExactlyTheNucleusInProportion) {
  const int V = 1000;
  std::vector<float> logits(V, -12.0f);
  const double mass[] = {0.5, 0.2, 0.15, 0.1, 0.05};
  const int32_t ids[] = {711, 3, 402, 999, 58};
  for (int i = 0; i < 5; ++i) logits[ids[i]] = static_cast<float>(std::log(mass[i]));
  for (double top_p : {0.3, 0.8, 0.9, 0.97}) {
    const auto expected = nucleus(logits, top_p);
    Sampler sampler({1.0, 0, top_p});
    Rng rng(5);
    std::vector<int> hits(V, 0);
    const int n = 20000;
    for (int i = 0; i < n; ++i) ++hits[sampler.sample(logits.data(), V, rng)];
    std::set<int32_t> seen;
    for (int v = 0; v < V; ++v)
      if (hits[v]) seen.insert(v);
    EXPECT_EQ(seen, expected) << "top_p " << top_p;
    double kept = 0;
    for (int32_t id : expected) kept += std::exp(static_cast<double>(logits[id]));
    for (int32_t id : expected)  // each in proportion to its probability within the nucleus
      EXPECT_NEAR(hits[id] / double(n), std::exp(static_cast<double>(logits[id])) / kept, 0.015) << id;
  }
}

TEST(Sampler, TopPOnAFlatDistributionStillSamples) {
  std::vector<float> logits(100, 0.5f);
  Sampler sampler({1.0, 0, 1e-4});
  Rng rng(2);
  for (int i = 0; i < 50; ++i) {
    const int32_t t = sampler.sample(logits.data(), 100, rng);
    EXPECT_GE(t, 0);
    EXPECT_LT(t, 100);
  }
}

TEST(Sampler, GreedyAtTemperatureZero) {
  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.9f};
  Sampler sampler({0.0, 0, 1.0});
  Rng rng(1);
  EXPECT_EQ(sampler.sample(logits.data(), 4, rng), 1);
}

}  // namespace
}  // namespace mosaic
