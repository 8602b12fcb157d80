// Paired comparisons (eval/paired.hpp, `mosaic eval --vs`): the statistics against brute force
// on made-up losses, the pairing's point (a shared per-window difficulty cancels), the
// bootstrap interval against the normal one, document windows of unequal length, bad ranges,
// and the command end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "eval/paired.hpp"
#include "io/model_io.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "tiny_model.hpp"
#include "tokenizer_fixture.hpp"

namespace mosaic {
namespace {

// Two models' losses on W windows of T positions: a window difficulty shared by both (large),
// a true difference `shift` for model a, and independent noise (small).
struct MadeUp {
  std::vector<float> a, b;
};
MadeUp made_up(int W, int T, double shift, uint64_t seed) {
  Rng rng(seed);
  MadeUp m;
  for (int w = 0; w < W; ++w) {
    const double hard = 3.0 * rng.normal();
    for (int t = 0; t < T; ++t) {
      m.a.push_back(static_cast<float>(5 + hard + shift + 0.1 * rng.normal()));
      m.b.push_back(static_cast<float>(5 + hard + 0.1 * rng.normal()));
    }
  }
  return m;
}

TEST(Paired, PositionsAndRangesMatchBruteForce) {
  const int W = 40, T = 8;
  const MadeUp m = made_up(W, T, 0.05, 3);
  const std::vector<PositionRange> ranges{{0, T}, {2, 5}};
  const PairedComparison c = compare_paired(m.a, m.b, T, ranges, 0, 1);
  for (int t = 0; t < T; ++t) {
    double sum = 0, sq = 0;
    for (int w = 0; w < W; ++w) sum += double(m.a[w * T + t]) - m.b[w * T + t];
    const double mean = sum / W;
    for (int w = 0; w < W; ++w) sq += std::pow(double(m.a[w * T + t]) - m.b[w * T + t] - mean, 2);
    EXPECT_NEAR(c.difference[t], mean, 1e-12);
    EXPECT_NEAR(c.stderr_paired[t], std::sqrt(sq / (W - 1) / W), 1e-12);
    EXPECT_EQ(c.windows[t], W);
  }
  // A range: the per-window mean differences (equal counts), their mean and standard error.
  const PairedStat& r = c.ranges[1];
  std::vector<double> d(W, 0.0);
  double mean = 0, a = 0;
  for (int w = 0; w < W; ++w) {
    for (int t = 2; t < 5; ++t) {
      d[w] += (double(m.a[w * T + t]) - m.b[w * T + t]) / 3;
      a += m.a[w * T + t] / (3.0 * W);
    }
    mean += d[w] / W;
  }
  double sq = 0;
  for (double x : d) sq += (x - mean) * (x - mean);
  EXPECT_NEAR(r.difference, mean, 1e-12);
  EXPECT_NEAR(r.mean_a, a, 1e-9);
  EXPECT_NEAR(r.mean_a - r.mean_b, r.difference, 1e-12);
  EXPECT_NEAR(r.stderr_paired, std::sqrt(sq / (W - 1) / W), 1e-12);
  EXPECT_EQ(r.tokens, 3 * W);
  EXPECT_NEAR(r.ci_low, mean - 1.96 * r.stderr_paired, 1e-12);  // no bootstrap: the normal interval
  EXPECT_FALSE(r.bootstrapped);
}

TEST(Paired, TheSharedDifficultyCancelsAndTheBootstrapAgreesWithTheNormalInterval) {
  const int W = 400, T = 16;
  const MadeUp m = made_up(W, T, 0.05, 7);
  const std::vector<PositionRange> whole{{0, T}};
  const PairedComparison c = compare_paired(m.a, m.b, T, whole, 4000, 11);
  const PairedStat& r = c.ranges[0];
  // Unpaired, each model's window means vary by ~3 nats: a standard error near 3/sqrt(W) = 0.15
  // would hide a 0.05 difference. Paired, the noise left is 0.1 * sqrt(2 / T) per window.
  EXPECT_LT(r.stderr_paired, 0.1 * std::sqrt(2.0 / T) / std::sqrt(W) * 1.3);
  EXPECT_GT(r.ci_low, 0.0);
  EXPECT_NEAR(r.difference, 0.05, 4 * r.stderr_paired);
  EXPECT_TRUE(r.bootstrapped);
  const double width = r.ci_high - r.ci_low;
  EXPECT_NEAR(width, 2 * 1.96 * r.stderr_paired, 0.15 * width);
  EXPECT_LT(r.ci_low, r.difference);
  EXPECT_GT(r.ci_high, r.difference);
  // The same seed gives the same interval; another seed a slightly different one.
  const PairedStat again = compare_paired(m.a, m.b, T, whole, 4000, 11).ranges[0];
  EXPECT_EQ(again.ci_low, r.ci_low);
  EXPECT_NE(compare_paired(m.a, m.b, T, whole, 4000, 12).ranges[0].ci_low, r.ci_low);
  // A model against itself: zero difference, zero error, a point interval.
  const PairedStat self = compare_paired(m.a, m.a, T, whole, 200, 1).ranges[0];
  EXPECT_EQ(self.difference, 0.0);
  EXPECT_EQ(self.stderr_paired, 0.0);
  EXPECT_EQ(self.ci_low, 0.0);
  EXPECT_EQ(self.ci_high, 0.0);
}

TEST(Paired, WindowsOfUnequalLengthWeighTheirTokens) {
  // Document windows: the second one scores 2 of its 4 positions (NaN past its end).
  const float nan = std::nanf("");
  const std::vector<float> a{1, 2, 3, 4, 5, 6, nan, nan}, b{0, 0, 0, 0, 1, 1, nan, nan};
  const std::vector<PositionRange> whole{{0, 4}}, tail{{2, 4}};
  const PairedComparison c = compare_paired(a, b, 4, whole, 0, 1);
  EXPECT_NEAR(c.ranges[0].difference, (1 + 2 + 3 + 4 + 4 + 5) / 6.0, 1e-12);  // over the 6 scored targets
  EXPECT_EQ(c.ranges[0].tokens, 6);
  EXPECT_EQ(c.windows[3], 1);
  EXPECT_EQ(c.stderr_paired[3], 0.0);  // one window: no spread to measure
  EXPECT_NEAR(c.difference[0], (1 + 4) / 2.0, 1e-12);
  const PairedComparison t = compare_paired(a, b, 4, tail, 0, 1);
  EXPECT_EQ(t.ranges[0].windows, 1);  // the short window has nothing there
  EXPECT_EQ(t.ranges[0].tokens, 2);
  // Not the same targets scored: refused.
  const std::vector<float> other{1, 2, 3, 4, 5, 6, 7, nan};
  EXPECT_THROW(compare_paired(a, other, 4, whole, 0, 1), Error);
  EXPECT_THROW(compare_paired(a, std::vector<float>(4, 1.0f), 4, whole, 0, 1), Error);
}

TEST(Paired, RangesParseAndBadOnesAreRefused) {
  const auto r = parse_position_ranges("0:32,96:128", 128);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].begin, 96);
  EXPECT_EQ(r[1].end, 128);
  const auto d = default_position_ranges(128);
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0].end, 128);
  EXPECT_EQ(d[4].begin, 96);
  EXPECT_EQ(default_position_ranges(3).size(), 1u);
  for (const char* bad : {"", "5", "0:0", "3:2", "0:129", "-1:4", "a:b", "0:4,", "0:4;8:9"}) {
    try {
      parse_position_ranges(bad, 128);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_FALSE(e.hint.empty()) << bad;
    }
  }
}

TEST(PairedCli, TwoModelsOnTheSameWindows) {
  REQUIRE_TOKENIZER();
  const testing::TempDir dir("paired_cli");
  const std::string a = dir.file("a.safetensors"), b = dir.file("b.safetensors"), text = dir.file("text.txt");
  save_model(a, *testing::tiny_model(testing::tiny_config("mosaic", {.vocab_size = 50304, .block_size = 16})));
  save_model(b, *testing::tiny_model(testing::tiny_config("gpt", {.vocab_size = 50304, .block_size = 16})));
  {
    std::ofstream out(text);
    for (int i = 0; i < 12; ++i) out << "The cat sat on the mat number " << i << " and looked at the moon.\n<|endoftext|>\n";
  }
  const std::string json = dir.file("r.json"), csv = dir.file("p.csv"), alone = dir.file("alone.json");
  const std::string eval = "timeout 120 " + std::string(MOSAIC_BINARY) + " eval -t 1 ";
  const auto r = testing::run_command(eval + "-m " + a + " --vs " + b + " " + text + " --ranges 0:8,8:16 --paired " + csv +
                                      " --json " + json + " --bootstrap 500");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("paired: model - vs"), std::string::npos) << r.output;
  const auto single = testing::run_command(eval + "-m " + b + " " + text + " --json " + alone);
  ASSERT_EQ(single.status, 0) << single.output;
  const auto j = nlohmann::json::parse(std::ifstream(json));
  const auto jb = nlohmann::json::parse(std::ifstream(alone));
  // The second model's mean is the one it gets alone on the same windows.
  EXPECT_NEAR(j["vs"]["mean_loss"].get<double>(), jb["mean_loss"].get<double>(), 1e-9);
  const auto& ranges = j["paired"]["ranges"];
  ASSERT_EQ(ranges.size(), 2u);
  double first_half = 0;
  const auto pa = j["position_loss"].get<std::vector<double>>(), pb = jb["position_loss"].get<std::vector<double>>();
  for (int t = 0; t < 8; ++t) first_half += (pa[t] - pb[t]) / 8;
  EXPECT_NEAR(ranges[0]["difference"].get<double>(), first_half, 1e-6);
  EXPECT_EQ(ranges[0]["ci_method"], "bootstrap over windows");
  std::ifstream in(csv);
  std::string header, line;
  std::getline(in, header);
  EXPECT_EQ(header, "position,mean_loss_a,mean_loss_b,difference,paired_stderr,windows");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 16);
  // Bad uses: one error line with a hint each.
  for (const std::string& args : {"-m " + a + " " + text + " --paired " + csv, "-m " + a + " --vs " + b + " " + text + " --ranges 0:99",
                                  "-m " + a + " --vs " + dir.file("missing.safetensors") + " " + text}) {
    const auto bad = testing::run_command(eval + args);
    EXPECT_EQ(bad.status, 1) << args << "\n" << bad.output;
    EXPECT_NE(bad.output.find("error: "), std::string::npos) << bad.output;
    EXPECT_NE(bad.output.find("hint: "), std::string::npos) << bad.output;
  }
}

}  // namespace
}  // namespace mosaic
