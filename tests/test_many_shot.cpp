// The many-shot task (experiments/many_shot/): sequences hold every class once a round, one
// label per class within a sequence and new ones across sequences; the scorer counts argmax hits
// per shot as a hand count does, in uneven batches; `mosaic many-shot` prepares and scores.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "core/error.hpp"
#include "experiments/many_shot/evaluate.hpp"
#include "experiments/many_shot/task.hpp"
#include "io/model_io.hpp"
#include "io/token_shards.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "tiny_model.hpp"

namespace mosaic {
namespace {

using many_shot::Task;

TEST(ManyShot, SequencesShowEveryClassOnceARoundWithOneLabelEach) {
  const Task task;
  Rng rng(4);
  std::set<std::vector<int32_t>> label_maps;
  for (int n = 0; n < 20; ++n) {
    const auto s = many_shot::make_sequence(task, 5, rng);
    ASSERT_EQ(static_cast<int>(s.tokens.size()), 5 * task.round_tokens());
    ASSERT_EQ(static_cast<int>(s.label_positions.size()), 5 * task.classes);
    std::map<int32_t, int> seen;  // label -> examples so far
    for (size_t i = 0; i < s.label_positions.size(); ++i) {
      const int p = s.label_positions[i];
      const int32_t label = s.tokens[p];
      EXPECT_GE(label, task.words);
      EXPECT_LT(label, task.words + task.labels);
      EXPECT_EQ(s.tokens[p - 1], task.sep());
      EXPECT_EQ(s.tokens[p + 1], task.delim());
      EXPECT_EQ(s.shots[i], seen[label]++) << "a class is seen once a round, so shots = rounds before";
      for (int w = p - 1 - task.example_len; w < p - 1; ++w) EXPECT_LT(s.tokens[w], task.words);
    }
    EXPECT_EQ(static_cast<int>(seen.size()), task.classes) << "one label per class";
    std::vector<int32_t> first_round;
    for (int c = 0; c < task.classes; ++c) first_round.push_back(s.tokens[s.label_positions[c]]);
    std::sort(first_round.begin(), first_round.end());
    label_maps.insert(first_round);
  }
  EXPECT_GT(label_maps.size(), 15u) << "each sequence draws its own labels";
}

// evaluate() against a hand count of argmax hits over the same sequences (same seed), in
// batches that do not divide the number of sequences.
TEST(ManyShot, ScoresAreArgmaxHitsPerShot) {
  Task task;
  task.classes = 3;
  task.words = 10;
  task.labels = 5;
  task.class_words = 3;
  auto model = testing::tiny_model(testing::tiny_config("mosaic", {.vocab_size = 24, .block_size = 16}), 5);
  const int rounds = 3, sequences = 5, T = rounds * task.round_tokens(), V = 24;
  const auto r = many_shot::evaluate(*model, task, rounds, sequences, 11, 2);
  Rng rng(11);
  std::vector<double> expect(rounds, 0);
  auto longer = with_block_size(*model, T);
  for (int n = 0; n < sequences; ++n) {
    const auto s = many_shot::make_sequence(task, rounds, rng);
    longer->forward(s.tokens.data(), nullptr, 1, T);
    for (size_t i = 0; i < s.label_positions.size(); ++i) {
      const float* row = longer->logits() + static_cast<int64_t>(s.label_positions[i] - 1) * V;
      const bool hit = std::max_element(row, row + V) - row == s.tokens[s.label_positions[i]];
      expect[s.shots[i]] += hit / static_cast<double>(task.classes * sequences);
    }
  }
  ASSERT_EQ(r.accuracy.size(), static_cast<size_t>(rounds));
  for (int k = 0; k < rounds; ++k) EXPECT_NEAR(r.accuracy[k], expect[k], 1e-12) << k;
  auto small = testing::tiny_model(testing::tiny_config("mosaic", {.vocab_size = 16}), 5);
  EXPECT_THROW(many_shot::evaluate(*small, task, rounds, sequences, 11), Error) << "vocabulary smaller than the task's";
}

TEST(ManyShot, PrepareWritesShardsAndEvalScoresACheckpoint) {
  const testing::TempDir tmp("many_shot");
  const std::string mosaic = MOSAIC_BINARY;
  const std::string dir = tmp.path.string();
  auto r = testing::run_command(mosaic + " many-shot prepare -o " + dir + "/data --train-tokens 3000 --val-tokens 500");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto train = read_token_shard(dir + "/data/train.bin");
  EXPECT_GE(train.size(), 3000u);
  EXPECT_LT(max_token(train), 99);
  save_model(dir + "/m.safetensors", *testing::tiny_model(testing::tiny_config("mosaic", {.vocab_size = 128}), 2));
  r = testing::run_command(mosaic + " many-shot eval -m " + dir + "/m.safetensors --data " + dir +
                           "/data --rounds 3 --sequences 4 -t 1 --json " + dir + "/r.json");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("shots  accuracy"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir + "/r.json"));
  r = testing::run_command(mosaic + " many-shot eval -m " + dir + "/m.safetensors --data " + dir + "/nowhere");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("hint:"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace mosaic
