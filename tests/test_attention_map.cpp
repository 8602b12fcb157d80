// `mosaic attention` (eval/attention_map.hpp): the averaged maps against a brute-force float64
// softmax of each window's queries and keys read from its own full forward, rows summing to
// one, contexts past the block_size for the Memory Mosaic and relative-position GPTs (refused
// for learned positions), the per-head summaries on hand-made maps, --explain's top pairs,
// and the command end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "eval/attention_map.hpp"
#include "io/model_io.hpp"
#include "models/factory.hpp"
#include "models/gpt.hpp"
#include "models/init.hpp"
#include "models/memory_mosaic.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "tiny_model.hpp"
#include "tokenizer_fixture.hpp"

namespace mosaic {
namespace {

struct Variant {
  std::string arch, pos_encoding;
  std::string name() const { return pos_encoding.empty() ? arch : arch + "-" + pos_encoding; }
};
const std::vector<Variant> kVariants = {{"mosaic", ""}, {"gpt", ""}, {"gpt", "rope"}, {"gpt", "alibi"}};

std::unique_ptr<LanguageModel<float>> tiny_model(const Variant& v, int vocab, int block, uint64_t seed = 3) {
  ModelConfig c = testing::tiny_config(v.arch, {.vocab_size = vocab, .block_size = block, .n_head = 3, .n_embd = 24});
  c.pos_encoding = v.pos_encoding;
  auto model = testing::tiny_model(c, seed);
  // Sharper and more varied weights than at initialisation, so that rows are far from flat.
  for (const auto& e : model->params().entries()) {
    float* w = model->params().value(e);
    for (size_t i = 0; i < e.numel; ++i) w[i] *= 3.0f;
  }
  return model;
}

std::vector<uint16_t> random_ids(int n, int vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint16_t> t(n);
  for (auto& v : t) v = static_cast<uint16_t>(rng.below(vocab));
  return t;
}

// The last row's weights of (layer, head) after a batch-1 forward of one window, from the
// layer's own queries and keys: float64 dot products, scale, ALiBi bias and softmax by hand.
std::vector<double> brute_force_last_row(const LanguageModel<float>& m, int layer, int head, int T) {
  const ModelConfig& c = m.config();
  const int C = c.n_embd, hs = C / c.n_head;
  std::vector<double> scores;
  if (const auto* mosaic = dynamic_cast<const MemoryMosaic<float>*>(&m)) {
    const float* k = mosaic->blocks()[layer].mixer.levels.front().k;  // (1, T, C): the keys are their own queries
    for (int j = 0; j < T - 1; ++j) {
      double s = 0;
      for (int d = 0; d < hs; ++d) s += double(k[(T - 1) * C + head * hs + d]) * k[j * C + head * hs + d];
      scores.push_back(s);
    }
  } else {
    const auto& attn = dynamic_cast<const Gpt<float>&>(m).blocks()[layer].mixer;
    const float* qkv = attn.qkv;  // (1, T, 3C), q and k rotated with rope
    for (int j = 0; j < T; ++j) {
      double s = 0;
      for (int d = 0; d < hs; ++d) s += double(qkv[(T - 1) * 3 * C + head * hs + d]) * qkv[j * 3 * C + C + head * hs + d];
      scores.push_back(s / std::sqrt(double(hs)) - attn.alibi_slope(head) * (T - 1 - j));
    }
  }
  const double mx = *std::max_element(scores.begin(), scores.end());
  double sum = 0;
  for (double& s : scores) sum += (s = std::exp(s - mx));
  for (double& s : scores) s /= sum;
  scores.resize(T, 0.0);  // the memory's last position gives itself no weight
  return scores;
}

void expect_maps_match_brute_force(const Variant& v, int block, int context) {
  auto model = tiny_model(v, 53, block);
  const int windows = 5;
  const auto tokens = random_ids(context * windows + 3, 53, 7);
  AttentionMapOptions o;
  o.context = context;
  o.batch = 2;  // batches of 2, 2, 1
  const AttentionMaps maps = attention_maps(*model, tokens, o);
  ASSERT_EQ(maps.windows, windows);
  EXPECT_EQ(maps.sees_self, v.arch == "gpt");
  auto runner = context > block ? with_block_size(*model, context) : nullptr;
  LanguageModel<float>& m = runner ? *runner : *model;
  const int L = m.config().n_layer, H = m.config().n_head;
  std::vector<std::vector<double>> expected(L * H, std::vector<double>(context, 0.0));
  double loss = 0;
  for (int w = 0; w < windows; ++w) {
    std::vector<int32_t> idx(tokens.begin() + w * context, tokens.begin() + (w + 1) * context);
    std::vector<int32_t> tgt(tokens.begin() + w * context + 1, tokens.begin() + (w + 1) * context + 1);
    loss += m.evaluate(idx.data(), tgt.data(), 1, context);
    for (int l = 0; l < L; ++l)
      for (int h = 0; h < H; ++h) {
        const auto row = brute_force_last_row(m, l, h, context);
        for (int j = 0; j < context; ++j) expected[l * H + h][j] += row[j] / windows;
      }
  }
  EXPECT_NEAR(maps.mean_loss, loss / windows, 1e-5) << v.name();
  double flatness = 0;  // how far the rows are from uniform: the test must be able to fail
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < H; ++h) {
      const HeadMap& head = maps.heads[l * H + h];
      ASSERT_EQ(head.layer, l);
      ASSERT_EQ(head.head, h);
      ASSERT_EQ(static_cast<int>(head.weight.size()), context);
      EXPECT_NEAR(std::accumulate(head.weight.begin(), head.weight.end(), 0.0), 1.0, 1e-5) << v.name();
      for (int j = 0; j < context; ++j) {
        EXPECT_NEAR(head.weight[j], expected[l * H + h][j], 2e-6) << v.name() << " layer " << l << " head " << h << " j " << j;
        flatness = std::max(flatness, std::abs(head.weight[j] - 1.0 / context));
      }
      EXPECT_EQ(head.mass_last, mass_on_last(head.weight, kLastFraction));
      EXPECT_EQ(head.half_width, half_mass_width(head.weight));
      EXPECT_EQ(head.distance, mean_distance(head.weight));
      if (v.arch == "mosaic") {
        EXPECT_EQ(head.weight[context - 1], 0.0) << "the memory's last position has no pair of its own";
        EXPECT_TRUE(std::isfinite(head.decay) && head.decay > 0 && head.decay < 1);
        EXPECT_DOUBLE_EQ(head.time_constant, 1.0 / (1.0 - head.decay));
        EXPECT_GT(head.key_scale, 0);
      } else {
        EXPECT_TRUE(std::isnan(head.decay));
        EXPECT_TRUE(std::isnan(head.time_constant));
      }
    }
  EXPECT_GT(flatness, 1e-3) << v.name() << ": rows this flat cannot tell a wrong position from a right one";
}

TEST(AttentionMaps, AveragedMapsEqualABruteForceAverageFromTheFullForward) {
  for (const auto& v : kVariants) expect_maps_match_brute_force(v, 20, 20);
}

TEST(AttentionMaps, ThreeTimesTheTrainingContextForMosaicRopeAndAlibi) {
  for (const auto& v : kVariants) {
    if (v.arch == "gpt" && v.pos_encoding.empty()) continue;
    expect_maps_match_brute_force(v, 16, 48);
  }
}

TEST(AttentionMaps, LearnedPositionsRefuseContextsPastTheBlockSize) {
  auto model = tiny_model({"gpt", ""}, 53, 16);
  const auto tokens = random_ids(200, 53, 2);
  AttentionMapOptions o;
  o.context = 48;
  try {
    attention_maps(*model, tokens, o);
    FAIL() << "a learned-position GPT ran past its block_size";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("block_size 16"), std::string::npos) << e.what();
    EXPECT_NE(e.hint.find("rope or alibi"), std::string::npos) << e.hint;
  }
  o.context = 16;
  EXPECT_EQ(attention_maps(*model, tokens, o).context, 16);
}

TEST(AttentionMaps, EveryRowOfEveryWindowSumsToOne) {
  for (const auto& v : kVariants) {
    auto model = tiny_model(v, 53, 24);
    const auto tokens = random_ids(24 * 3, 53, 5);
    std::vector<int32_t> idx(tokens.begin(), tokens.end());
    std::vector<int32_t> tgt(idx.size(), 1);
    model->evaluate(idx.data(), tgt.data(), 3, 24);
    for (int l = 0; l < 2; ++l) {
      const auto view = model->attention(l);
      ASSERT_EQ(view.B, 3);
      ASSERT_EQ(view.T, 24);
      for (int b = 0; b < 3; ++b)
        for (int h = 0; h < view.H; ++h)
          for (int i = 0; i < 24; ++i) {
            const float* row = view.row(b, h, i);
            const int n = view.visible(i);
            if (n == 0) continue;  // the memory's first position: nothing stored yet
            const double sum = std::accumulate(row, row + n, 0.0);
            EXPECT_NEAR(sum, 1.0, 1e-5) << v.name() << " b " << b << " h " << h << " i " << i;
            for (int j = 0; j < n; ++j) EXPECT_GE(row[j], 0.0f);
          }
    }
  }
}

TEST(AttentionMaps, SummariesOfHandMadeMaps) {
  const std::vector<double> last_only = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_DOUBLE_EQ(mass_on_last(last_only, 0.1), 1.0);
  EXPECT_EQ(half_mass_width(last_only), 1);
  EXPECT_DOUBLE_EQ(mean_distance(last_only), 0.0);
  const std::vector<double> uniform(20, 0.05);
  EXPECT_NEAR(mass_on_last(uniform, 0.1), 0.1, 1e-12);   // the last 2 of 20 positions
  EXPECT_EQ(half_mass_width(uniform), 10);
  EXPECT_NEAR(mean_distance(uniform), 9.5, 1e-12);
  const std::vector<double> memory = {0.1, 0.2, 0.3, 0.4, 0.0};  // no weight on the last position
  EXPECT_NEAR(mass_on_last(memory, 0.1), 0.0, 1e-12);   // ceil(0.5) = 1 position
  EXPECT_NEAR(mass_on_last(memory, 0.4), 0.4, 1e-12);   // 2 positions
  EXPECT_EQ(half_mass_width(memory), 3);                // 0 + 0.4 + 0.3 >= 0.5
  EXPECT_NEAR(mean_distance(memory), 0.1 * 4 + 0.2 * 3 + 0.3 * 2 + 0.4 * 1, 1e-12);
}

TEST(AttentionMaps, ExplainListsTheHeaviestVisiblePairsOfEachRow) {
  for (const auto& v : kVariants) {
    auto model = tiny_model(v, 53, 32);
    const auto tokens = random_ids(14, 53, 9);
    const Explanation e = explain_attention(*model, tokens, 3);
    ASSERT_EQ(e.tokens, 14);
    ASSERT_EQ(e.rows.size(), static_cast<size_t>(2 * 3 * 14));
    const auto view = model->attention(1);  // explain ran the text alone: its last pass
    for (const auto& row : e.rows) {
      const int visible = e.sees_self ? row.position + 1 : row.position;
      ASSERT_EQ(row.top.size(), static_cast<size_t>(std::min(3, visible))) << v.name();
      for (size_t r = 0; r < row.top.size(); ++r) {
        EXPECT_LT(row.top[r].position, visible);
        if (r > 0) {
          EXPECT_GE(row.top[r - 1].weight, row.top[r].weight);
        }
      }
      if (row.layer != 1 || row.top.empty()) continue;
      const float* weights = view.row(0, row.head, row.position);
      const double heaviest = *std::max_element(weights, weights + visible);
      EXPECT_EQ(row.top[0].weight, heaviest);
      EXPECT_EQ(row.top[0].weight, weights[row.top[0].position]);
      int heavier = 0;  // no unlisted pair outweighs the last listed one
      for (int j = 0; j < visible; ++j) heavier += weights[j] > row.top.back().weight;
      EXPECT_LE(heavier, static_cast<int>(row.top.size()) - 1);
    }
  }
}

// ---- the command, as a user runs it ----

testing::CommandResult run_attention(const std::string& args) {
  return testing::run_command("timeout 120 " + std::string(MOSAIC_BINARY) + " attention " + args + " -t 1 </dev/null");
}

TEST(AttentionCli, MapsHeadsAndExplainAndErrors) {
  REQUIRE_TOKENIZER();
  const testing::TempDir dir("attention_cli");
  const std::string mosaic = dir.file("mosaic.safetensors"), gpt = dir.file("gpt.safetensors");
  save_model(mosaic, *tiny_model({"mosaic", ""}, 50304, 16));
  save_model(gpt, *tiny_model({"gpt", ""}, 50304, 16));
  const std::string text = dir.file("stories.txt");
  {
    std::ofstream out(text);
    for (int i = 0; i < 10; ++i) out << "Once upon a time, a little fox named Pip found a red ball in the park.\n<|endoftext|>\n";
  }
  const std::string maps = dir.file("maps.csv"), heads = dir.file("heads.csv");
  const auto r = run_attention("-m " + mosaic + " " + text + " --context 48 -o " + maps + " --heads " + heads);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("(3.0x the block_size)"), std::string::npos) << r.output;
  std::ifstream in(maps);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "layer,head,position,distance,weight");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 2 * 3 * 48);
  std::ifstream hin(heads);
  std::getline(hin, line);
  EXPECT_EQ(line.rfind("layer,head,context,mass_last_10pct,half_mass_width", 0), 0u) << line;
  rows = 0;
  while (std::getline(hin, line)) ++rows;
  EXPECT_EQ(rows, 2 * 3);

  const auto ex = run_attention("-m " + mosaic + " --explain --top 2 --text \"The dog saw the cat. The dog\"");
  ASSERT_EQ(ex.status, 0) << ex.output;
  EXPECT_NE(ex.output.find("(nothing stored yet)"), std::string::npos) << ex.output;
  EXPECT_NE(ex.output.find("\" dog\""), std::string::npos) << ex.output;
  EXPECT_NE(ex.output.find("->"), std::string::npos) << ex.output;

  struct Case {
    std::string args, what;
  };
  for (const Case& c : {Case{"-m " + gpt + " " + text + " --context 48", "cannot run past its block_size 16"},
                        Case{"-m " + gpt, "no input text"},
                        Case{"-m " + gpt + " --text \"too short\"", "fewer than one window"},
                        Case{"-m " + gpt + " --explain --text \"a\"", "at least two tokens"}}) {
    const auto bad = run_attention(c.args);
    EXPECT_EQ(bad.status, 1) << c.args << "\n" << bad.output;
    EXPECT_NE(bad.output.find("error: "), std::string::npos) << bad.output;
    EXPECT_NE(bad.output.find("hint: "), std::string::npos) << bad.output;
    EXPECT_NE(bad.output.find(c.what), std::string::npos) << c.args << "\n" << bad.output;
  }
}

}  // namespace
}  // namespace mosaic
