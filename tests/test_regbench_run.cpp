// The RegBench experiment around the data and metrics (test_regbench_data.cpp has those): the
// task batches the trainer reads, scoring a model file, and `mosaic regbench` end to end on a
// tiny model: results written, a finished grid point skipped on the next run, bad configs refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "experiments/regbench/experiment.hpp"
#include "io/model_io.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "tiny_model.hpp"

namespace mosaic::testing {
namespace {

using namespace regbench;

TEST(RegBenchRun, EveryEpochVisitsEachTaskOnceAndBatchesArePadded) {
  const int N = 10, B = 3, accumulation = 2;
  auto tasks = make_tasks(7, N);
  TaskBatches source(tasks, make_tasks(8, 4), B, accumulation, 99);
  Rng unused(0);
  // 10 tasks, 6 per step: sequences 0..29 are the first three epochs.
  std::vector<std::multiset<std::vector<int32_t>>> epochs(3);
  for (int64_t step = 0; step < 5; ++step)
    for (int micro = 0; micro < accumulation; ++micro) {
      Batch batch;
      source.train_batch(step, micro, unused, batch);
      ASSERT_EQ(batch.B, B);
      for (int b = 0; b < B; ++b) {
        const int64_t k = (step * accumulation + micro) * B + b;
        // the row's inputs up to the first padding, and its targets: shifted inputs, '|' and padding ignored
        std::vector<int32_t> row(batch.idx.begin() + b * batch.T, batch.idx.begin() + (b + 1) * batch.T);
        int length = batch.T;
        while (length > 0 && row[length - 1] == kPad) --length;
        for (int t = 0; t < batch.T; ++t) {
          const int32_t target = batch.targets[b * batch.T + t];
          if (t + 1 < length) {
            EXPECT_EQ(target, row[t + 1] == kSep ? kIgnore : row[t + 1]);
          }
          if (t >= length) {
            EXPECT_EQ(target, kIgnore);
          }
        }
        row.resize(length);
        if (k < 30) epochs[k / N].insert(row);
      }
    }
  std::multiset<std::vector<int32_t>> all;
  for (const auto& t : tasks) all.insert(std::vector<int32_t>(t.tokens.begin(), t.tokens.end() - 1));
  for (const auto& e : epochs) EXPECT_EQ(e, all);
  EXPECT_NE(epochs[0].size(), 0u);

  // A batch depends only on (step, micro): asked again out of order, it is the same.
  Batch first, again;
  source.train_batch(4, 1, unused, first);
  source.train_batch(0, 0, unused, again);
  source.train_batch(4, 1, unused, again);
  EXPECT_EQ(first.idx, again.idx);
  EXPECT_EQ(first.targets, again.targets);
}

// --epoch-batches, as seq_icl's loader: each epoch is the N sequences once, in steps of B x
// accumulation with the last step short and shared out over its micro-batches.
TEST(RegBenchRun, EpochBatchesVisitEachTaskOncePerEpochWithTheLastStepShort) {
  const int N = 10, B = 2, accumulation = 2;  // 4 per step: steps of 4, 4, 2 sequences
  auto tasks = make_tasks(7, N);
  TaskBatches source(tasks, make_tasks(8, 4), B, accumulation, 99, false, true);
  Rng unused(0);
  std::multiset<std::vector<int32_t>> all;
  for (const auto& t : tasks) all.insert(std::vector<int32_t>(t.tokens.begin(), t.tokens.end() - 1));
  const int sizes[3][2] = {{2, 2}, {2, 2}, {1, 1}};
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::multiset<std::vector<int32_t>> seen;
    for (int s = 0; s < 3; ++s)
      for (int micro = 0; micro < accumulation; ++micro) {
        Batch batch;
        source.train_batch(epoch * 3 + s, micro, unused, batch);
        ASSERT_EQ(batch.B, sizes[s][micro]) << "epoch " << epoch << " step " << s << " micro " << micro;
        for (int b = 0; b < batch.B; ++b) {
          std::vector<int32_t> row(batch.idx.begin() + b * batch.T, batch.idx.begin() + (b + 1) * batch.T);
          while (!row.empty() && row.back() == kPad) row.pop_back();
          seen.insert(row);
        }
      }
    EXPECT_EQ(seen, all) << "epoch " << epoch;
  }
  // A last step with fewer sequences than micro-batches is refused with a hint.
  EXPECT_THROW(TaskBatches(make_tasks(7, 9), make_tasks(8, 4), B, 4, 99, false, true), Error);
}

// --relabel: each drawn sequence is the plain draw with its letters renamed by one bijection
// (padding, '|' and ignored targets in place, targets renamed alike), the renaming changes from
// draw to draw, and a batch still depends only on (step, micro).
TEST(RegBenchRun, RelabelledBatchesRenameEachDrawsLettersConsistently) {
  const int N = 6, B = 3, accumulation = 2;
  auto tasks = make_tasks(7, N);
  TaskBatches plain(tasks, make_tasks(8, 4), B, accumulation, 99);
  TaskBatches renamed(tasks, make_tasks(8, 4), B, accumulation, 99, true);
  Rng unused(0);
  std::set<std::vector<int32_t>> renamings;
  for (int64_t step = 0; step < 4; ++step)
    for (int micro = 0; micro < accumulation; ++micro) {
      Batch a, b;
      plain.train_batch(step, micro, unused, a);
      renamed.train_batch(step, micro, unused, b);
      ASSERT_EQ(a.B, b.B);
      ASSERT_EQ(a.T, b.T);
      for (int r = 0; r < a.B; ++r) {
        std::vector<int32_t> map(kVocab, -1), inverse(kVocab, -1);
        for (int t = 0; t < a.T; ++t) {
          const int64_t j = static_cast<int64_t>(r) * a.T + t;
          const int32_t x = a.idx[j], y = b.idx[j];
          if (!is_letter(x)) {
            EXPECT_EQ(y, x) << "padding and '|' stay";
          } else {
            ASSERT_TRUE(is_letter(y));
            if (map[x] < 0) map[x] = y;
            if (inverse[y] < 0) inverse[y] = x;
            EXPECT_EQ(map[x], y) << "one letter, one new name within a sequence";
            EXPECT_EQ(inverse[y], x) << "two letters, one name";
          }
          const int32_t ta = a.targets[j], tb = b.targets[j];
          if (ta < 0) {
            EXPECT_EQ(tb, ta);
          } else {
            EXPECT_EQ(tb, map[ta] >= 0 ? map[ta] : tb) << "targets renamed as the inputs";
          }
        }
        renamings.insert(map);
      }
      Batch again;
      renamed.train_batch(step, micro, unused, again);
      EXPECT_EQ(again.idx, b.idx);
    }
  EXPECT_GT(renamings.size(), 20u) << "24 draws, fresh renamings";
}

ModelConfig tiny_regbench_model() {
  ModelConfig c = tiny_config("mosaic", {.vocab_size = 20, .block_size = 960, .n_layer = 1, .n_embd = 8, .pmem_size = 4});
  c.bias = false;
  return c;
}

TEST(RegBenchRun, ScoresAreOverEveryPositionOfTheTestTasks) {
  TempDir dir("regbench_score");
  auto model = make_model<float>(tiny_regbench_model());
  Rng rng(3);
  init_parameters(model->params(), model->config(), rng);
  save_model(dir.file("m.safetensors"), *model);
  const auto tasks = make_tasks(11, 3);
  const TestScores s = score_model(dir.file("m.safetensors"), tasks);
  int64_t positions = 0;
  for (const auto& t : tasks) positions += static_cast<int64_t>(t.tokens.size()) - 1;
  EXPECT_EQ(s.positions, positions);
  EXPECT_GE(s.accuracy, 0.0);
  EXPECT_LE(s.accuracy, 1.0);
  EXPECT_GT(s.tvd, 0.0) << "an untrained model is not the automaton";
  EXPECT_DOUBLE_EQ(s.tvd, s.l1 / 2);
}

TEST(RegBenchRun, CommandRunsAGridResumesAndRefusesBadConfigs) {
  TempDir dir("regbench_cli");
  nlohmann::json config = tiny_regbench_model().to_json();
  config["arch"] = "mosaic";
  config["batch_size"] = 2;
  config["gradient_accumulation_steps"] = 1;
  std::ofstream(dir.file("tiny.json")) << config.dump();
  const std::string base = std::string(MOSAIC_BINARY) + " regbench --sizes 4 --steps 2 --val-tasks 2 --test-tasks 2 --no-plot -t 1 --config " +
                           dir.file("tiny.json") + " --runs " + dir.file("runs") + " -o " + dir.file("out");
  const auto first = run_command(base);
  ASSERT_EQ(first.status, 0) << first.output;
  nlohmann::json results;
  std::ifstream(dir.file("out/results.json")) >> results;
  ASSERT_EQ(results["points"].size(), 5u) << "N = 4 on fresh automata, the IID variant, the 2-, 3- and 4-gram counters";
  for (const auto& p : results["points"]) {
    EXPECT_GE(p["accuracy"].get<double>(), 0.0);
    EXPECT_GT(p["positions"].get<int64_t>(), 0);
  }
  EXPECT_EQ(results["points"][0]["name"], "tiny_N4") << "named by the config file";
  EXPECT_EQ(results["points"][0]["model"], "tiny");
  EXPECT_EQ(results["points"][3]["model"], "ngram3");
  const auto second = run_command(base);
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_NE(second.output.find("done before"), std::string::npos) << second.output;
  nlohmann::json again;
  std::ifstream(dir.file("out/results.json")) >> again;
  EXPECT_EQ(again["points"], results["points"]);
  const auto rescored = run_command(base + " --rescore");
  ASSERT_EQ(rescored.status, 0) << rescored.output;
  EXPECT_NE(rescored.output.find("scored again"), std::string::npos) << rescored.output;
  std::ifstream(dir.file("out/results.json")) >> again;
  EXPECT_EQ(again["points"], results["points"]) << "the same checkpoints score the same";

  // A second config of the same arch trains in its own folders; two files of one name are refused.
  std::filesystem::create_directories(dir.file("other"));
  std::ofstream(dir.file("other/tiny.json")) << config.dump();
  std::ofstream(dir.file("tiny_b.json")) << config.dump();
  const auto two = run_command(base + " --ngram 0 --config " + dir.file("tiny_b.json"));
  ASSERT_EQ(two.status, 0) << two.output;
  std::ifstream(dir.file("out/results.json")) >> again;
  ASSERT_EQ(again["points"].size(), 4u) << two.output;
  EXPECT_EQ(again["points"][0], results["points"][0]) << "tiny's points are done before";
  EXPECT_EQ(again["points"][2]["name"], "tiny_b_N4");
  const auto same = run_command(base + " --config " + dir.file("other/tiny.json"));
  EXPECT_NE(same.status, 0);
  EXPECT_NE(same.output.find("two configs named tiny"), std::string::npos) << same.output;

  // Extra training seeds at the smallest N: the config's seed + 1 in a folder of its own.
  const auto seeded = run_command(base + " --ngram 0 --no-iid --seeds 2");
  ASSERT_EQ(seeded.status, 0) << seeded.output;
  std::ifstream(dir.file("out/results.json")) >> again;
  ASSERT_EQ(again["points"].size(), 2u) << seeded.output;
  EXPECT_EQ(again["points"][0], results["points"][0]) << "the first seed is done before";
  EXPECT_EQ(again["points"][1]["name"], "tiny_N4_seed2");
  EXPECT_EQ(again["points"][1]["train_seed"].get<uint64_t>(), results["points"][0]["train_seed"].get<uint64_t>() + 1);
  EXPECT_EQ(again["protocol"]["seeds"], 2);

  // The counters alone: no model, seconds.
  const std::string counters = std::string(MOSAIC_BINARY) + " regbench --sizes 4 --val-tasks 2 --test-tasks 2 --no-plot --ngram-only -o " +
                               dir.file("counters");
  const auto only = run_command(counters + " --ngram 3");
  ASSERT_EQ(only.status, 0) << only.output;
  std::ifstream(dir.file("counters/results.json")) >> again;
  ASSERT_EQ(again["points"].size(), 1u);
  EXPECT_EQ(again["points"][0]["model"], "ngram3");
  EXPECT_EQ(again["points"][0]["positions"], results["points"][3]["positions"]) << "the same test automata";
  const auto none = run_command(counters + " --ngram 0");
  EXPECT_NE(none.status, 0);
  EXPECT_NE(none.output.find("hint:"), std::string::npos) << none.output;

  config["vocab_size"] = 12;
  std::ofstream(dir.file("small_vocab.json")) << config.dump();
  const auto bad = run_command(std::string(MOSAIC_BINARY) + " regbench --sizes 4 --steps 1 --no-plot --config " +
                               dir.file("small_vocab.json") + " --runs " + dir.file("runs2") + " -o " + dir.file("out2"));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("error:"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("hint:"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace mosaic::testing
