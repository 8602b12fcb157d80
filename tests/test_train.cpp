// The trainer: exact resume (N + resume + N steps == 2N steps, bit for bit), the loss falls,
// and bad runs stop with an Error that keeps the last good checkpoint.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/safetensors.hpp"
#include "io/token_shards.hpp"
#include "temp_dir.hpp"
#include "tiny_model.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"

namespace mosaic {
namespace {

namespace fs = std::filesystem;

// A learnable synthetic corpus over a 32-token vocabulary: four short "words" in random
// order (about 0.3 nats/token of true entropy; the unigram entropy is about 3.1).
// Written into tmp/data; returns that folder.
std::string make_shards(const testing::TempDir& tmp, uint16_t stray_token = 0) {
  const std::string dir = tmp.file("data");
  fs::create_directories(dir);
  Rng rng(5);
  std::vector<uint16_t> tokens;
  while (tokens.size() < 6000) {
    const int w = static_cast<int>(rng.below(4));
    for (int i = 0; i < 3 + w; ++i) tokens.push_back(static_cast<uint16_t>(w * 7 + i));
  }
  if (stray_token) tokens[4321] = stray_token;
  write_token_shard(dir + "/train.bin", tokens);
  write_token_shard(dir + "/val.bin", std::vector<uint16_t>(tokens.begin(), tokens.begin() + 1000));
  return dir;
}

TrainConfig tiny_train_config(const std::string& data, const std::string& out, const std::string& arch = "mosaic") {
  TrainConfig c;
  c.model = testing::tiny_config(arch);  // V 32, T 16, 2 layers, 2 heads, C 16, P 8
  c.data_dir = data;
  c.out_dir = out;
  c.batch_size = 4;
  c.max_iters = 8;
  c.warmup_iters = 2;
  c.lr_decay_iters = 8;
  c.eval_interval = 4;
  c.eval_iters = 2;
  c.log_interval = 100;
  c.sample_interval = 0;
  c.checkpoint_interval = 4;
  c.gradient_accumulation_steps = 2;
  return c;
}

std::vector<std::vector<std::byte>> tensors_of(const std::string& path) {
  auto file = safetensors::Reader::open(path);
  std::vector<std::vector<std::byte>> out;
  for (const auto& name : file.names()) {
    auto raw = file.raw(name);
    out.emplace_back(raw.begin(), raw.end());
  }
  return out;
}

// With dropout too: the masks come from the seed and the step, so the resumed half draws the
// masks the uninterrupted run drew. keep_best's model is the same file either way.
TEST(Train, ResumeIsBitIdenticalToAnUninterruptedRun) {
  for (const std::string arch : {"mosaic", "gpt"})
    for (double dropout : {0.0, 0.2}) {
      const std::string name = arch + (dropout > 0 ? "_dropout" : "");
      const testing::TempDir dir("resume_" + name);
      const std::string data = make_shards(dir);
      const std::string straight = dir.file("straight"), split = dir.file("split");
      TrainConfig full = tiny_train_config(data, straight, arch);
      full.model.dropout = dropout;
      full.keep_best = true;
      train(full, false);

      TrainConfig first = full;
      first.out_dir = split;
      first.max_iters = 4;  // same schedule (lr_decay_iters 8), stopped half way
      train(first, false);
      TrainConfig second = full;
      second.out_dir = split;
      train(second, true);

      EXPECT_EQ(tensors_of(checkpoint_model_path(straight, 8)), tensors_of(checkpoint_model_path(split, 8))) << name;
      EXPECT_EQ(tensors_of(checkpoint_state_path(straight, 8)), tensors_of(checkpoint_state_path(split, 8))) << name;
      EXPECT_EQ(tensors_of(straight + "/best.safetensors"), tensors_of(split + "/best.safetensors")) << name;
    }
}

TEST(Train, LossFallsOnALearnableCorpus) {
  const testing::TempDir dir("falls");
  const std::string data = make_shards(dir);
  const std::string out = dir.file("run");
  TrainConfig c = tiny_train_config(data, out);
  c.max_iters = 150;
  c.lr_decay_iters = 150;
  c.eval_interval = 150;
  c.learning_rate = 1e-2;
  c.min_lr = 1e-3;
  const TrainResult r = train(c, false);
  EXPECT_EQ(r.steps, 150);
  auto tokens = read_token_shard(data + "/val.bin");
  std::vector<double> counts(32, 0);
  for (auto t : tokens) counts[t] += 1;
  double unigram = 0;
  for (double n : counts)
    if (n > 0) unigram -= n / tokens.size() * std::log(n / tokens.size());
  EXPECT_LT(r.last_val_loss, unigram - 1.0) << "unigram entropy " << unigram;
}

TEST(Train, RefusesToOverwriteAnExistingRun) {
  const testing::TempDir dir("overwrite");
  const std::string data = make_shards(dir);
  const std::string out = dir.file("run");
  TrainConfig c = tiny_train_config(data, out);
  c.max_iters = 4;
  train(c, false);
  EXPECT_THROW(train(c, false), Error);
  EXPECT_EQ(list_checkpoints(out).back(), 4);
}

TEST(Train, NonFiniteLossStopsAndKeepsTheLastCheckpoint) {
  const testing::TempDir dir("nan");
  const std::string data = make_shards(dir);
  const std::string out = dir.file("run");
  TrainConfig c = tiny_train_config(data, out);
  c.max_iters = 4;
  train(c, false);
  TrainConfig bad = tiny_train_config(data, out);
  bad.max_iters = 40;
  bad.learning_rate = 1e30;  // weights blow up within a step or two
  bad.min_lr = 0;
  bad.grad_clip = 0;
  bad.checkpoint_interval = 1;
  try {
    train(bad, true);
    FAIL() << "expected a non-finite loss error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
  }
  // every checkpoint left behind holds finite weights
  for (int64_t step : list_checkpoints(out)) {
    auto file = safetensors::Reader::open(checkpoint_model_path(out, step));
    for (const auto& name : file.names()) {
      if (file.info(name).dtype != safetensors::DType::F32) continue;
      for (float x : file.read_f32(name)) {
        ASSERT_TRUE(std::isfinite(x)) << name << " at step " << step;
      }
    }
  }
}

TEST(Train, TokensOutsideTheVocabularyAreRejected) {
  const testing::TempDir dir("vocab");
  const std::string data = make_shards(dir, 100);  // one id of 100 > vocab 32
  const std::string out = dir.file("run");
  EXPECT_THROW(train(tiny_train_config(data, out), false), Error);
}

// llm.c's shard names (several per split) give the run one file per split gives; a folder
// with both namings is refused (one of them is stale).
TEST(Train, LlmcShardsGiveTheSameRunAsOneFilePerSplit) {
  const testing::TempDir dir("llmc_shards");
  const std::string single = make_shards(dir);
  const std::string sharded = dir.file("sharded_data");
  fs::create_directories(sharded);
  const auto train_tokens = read_token_shard(single + "/train.bin"), val_tokens = read_token_shard(single + "/val.bin");
  const std::span<const uint16_t> all(train_tokens);
  write_token_shard(sharded + "/tiny_train_000000.bin", all.subspan(0, 2500));
  write_token_shard(sharded + "/tiny_train_000001.bin", all.subspan(2500));
  write_token_shard(sharded + "/tiny_val_000000.bin", val_tokens);
  const std::string a = dir.file("run_single"), b = dir.file("run_sharded");
  train(tiny_train_config(single, a), false);
  train(tiny_train_config(sharded, b), false);
  EXPECT_EQ(tensors_of(checkpoint_model_path(a, 8)), tensors_of(checkpoint_model_path(b, 8)));

  write_token_shard(sharded + "/train.bin", train_tokens);
  fs::remove_all(b);
  EXPECT_THROW(train(tiny_train_config(sharded, b), false), Error);
}

TEST(Train, MissingShardIsAnError) {
  const testing::TempDir dir("missing");
  const std::string out = dir.file("run");
  EXPECT_THROW(train(tiny_train_config("/nonexistent/shards", out), false), Error);
}

}  // namespace
}  // namespace mosaic
