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
#include "kernels/vector_math.hpp"

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

// min-p keeps the tokens whose probability is at least min_p times the top one's.
// The blocked argmax is std::max_element's first largest: ties inside a block, across blocks,
// at the ends, and lengths around the block size.
TEST(Sampler, ArgmaxIsTheFirstLargest) {
  Rng rng(3);
  for (int n : {1, 2, 15, 255, 256, 257, 511, 4097, 50304})
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> x(n);
      for (auto& v : x) v = static_cast<float>(static_cast<int>(rng.below(40)) - 30);  // many ties
      if (trial % 4 == 1) x[n - 1] = 100;
      if (trial % 4 == 2) x[0] = x[n / 2] = x[n - 1] = 100;
      if (trial % 4 == 3) std::fill(x.begin(), x.end(), -5.0f);
      ASSERT_EQ(argmax(x.data(), n), std::max_element(x.begin(), x.end()) - x.begin()) << "n " << n << " trial " << trial;
    }
}

TEST(Sampler, MinPDropsTokensBelowItsShareOfTheTop) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.12f), std::log(0.08f)};
  for (double min_p : {0.0, 0.2, 0.5, 0.9}) {
    Sampler sampler({1.0, 0, 1.0, min_p});
    Rng rng(9);
    std::set<int32_t> seen;
    for (int i = 0; i < 4000; ++i) seen.insert(sampler.sample(logits.data(), 4, rng));
    std::set<int32_t> expected;
    for (int v = 0; v < 4; ++v)
      if (std::exp(logits[v]) >= min_p * 0.5f) expected.insert(v);
    EXPECT_EQ(seen, expected) << "min_p " << min_p;
  }
}

// The repeat penalty as llama.cpp applies it: each distinct recent token once, z / penalty for
// z > 0, z * penalty otherwise, only within the last repeat_last_n tokens.
TEST(Sampler, RepeatPenaltyAppliesLlamaCppsRuleToRecentTokens) {
  const std::vector<float> logits = {2.0f, 1.9f, -0.5f, -0.4f};
  Rng rng(1);
  Sampler plain({0.0, 0, 1.0});
  EXPECT_EQ(plain.sample(logits.data(), 4, rng), 0);
  const std::vector<int32_t> history = {0, 0, 3};
  Sampler penalized({0.0, 0, 1.0, 0.0, 1.5, 64});
  EXPECT_EQ(penalized.sample(logits.data(), 4, rng, history), 1);  // 2.0 / 1.5 < 1.9
  Sampler out_of_window({0.0, 0, 1.0, 0.0, 1.5, 1});               // only token 3 is recent
  EXPECT_EQ(out_of_window.sample(logits.data(), 4, rng, history), 0);
  // Negative logits go down: with token 1 out of the way, -0.4 * 1.5 = -0.6 < -0.5.
  const std::vector<float> low = {-9.0f, -9.0f, -0.5f, -0.4f};
  EXPECT_EQ(plain.sample(low.data(), 4, rng), 3);
  EXPECT_EQ(penalized.sample(low.data(), 4, rng, history), 2);
  // Applied once per distinct token: 2.0 / 1.05 = 1.905 > 1.9 however often token 0 repeats.
  Sampler mild({0.0, 0, 1.0, 0.0, 1.05, 64});
  const std::vector<int32_t> many(40, 0);
  EXPECT_EQ(mild.sample(logits.data(), 4, rng, many), 0);
}

}  // namespace
}  // namespace mosaic
