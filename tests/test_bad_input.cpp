// Bad input as a hostile user gives it: each case one `error:` line with a `hint:` and exit 1,
// never an abort, a hang, a wrapped number, or a diverged checkpoint saved as good; and
// --resume keeps the run's own settings.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "io/model_io.hpp"
#include "io/safetensors.hpp"
#include "io/token_shards.hpp"
#include "run_command.hpp"
#include "synthetic_shards.hpp"
#include "temp_dir.hpp"

namespace mosaic {
namespace {

namespace fs = std::filesystem;

using Run = testing::CommandResult;

// stdout and stderr together; a hang would end in a timeout (status 124) rather than stall the suite.
Run run(const std::string& args) {
  return testing::run_command("timeout 60 " + std::string(MOSAIC_BINARY) + " " + args + " </dev/null");
}

// Exit 1 with one error line, then a hint, and the error mentions `what` (a training run may
// have logged steps before it).
void expect_error(const Run& r, const std::string& what, const std::string& args) {
  EXPECT_EQ(r.status, 1) << args << "\n" << r.output;
  const size_t line = r.output.rfind("error: ", 0) == 0 ? 0 : r.output.find("\nerror: ");
  ASSERT_NE(line, std::string::npos) << args << "\n" << r.output;
  const size_t at = line == 0 ? 0 : line + 1;
  EXPECT_EQ(r.output.find("\nerror: ", at), std::string::npos) << "one error line\n" << r.output;
  EXPECT_NE(r.output.find("\nhint: ", at), std::string::npos) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(what, at), std::string::npos) << args << "\n" << r.output;
}

// A folder of its own per test, removed at its end, with token shards of a 32-token vocabulary
// in shards/.
struct DataDir : testing::TempDir {
  explicit DataDir(const std::string& name) : TempDir(name) { testing::write_random_shards(file("shards"), 4000, 32, 3); }
};

const std::string kTiny =
    " --vocab_size 32 --n_layer 1 --n_head 2 --n_embd 16 --block_size 16 --pmem_size 8 --batch_size 2 --eval_iters 1"
    " --sample_interval 0 --log_interval 1 --warmup_iters 1 -t 1";

TEST(BadInput, NumbersAreParsedStrictly) {
  const DataDir data("numbers");
  const std::string dir = data.path.string();
  const std::string train = "train --data_dir " + dir + "/shards --out_dir " + dir + "/run --max_iters 1" + kTiny;
  for (const auto& [flag, what] : std::vector<std::pair<std::string, std::string>>{
           {"--keep_checkpoints 4294967298", "out of range"},  // would wrap to 2
           {"--eval_interval 2.9", "whole number"},     // would truncate to 2
           {"--learning_rate nan", "not a number"},     // JSON has no NaN
           {"--seed -3", "out of range"}}) {
    expect_error(run(train + " " + flag), what, flag);
  }
  const auto whole = run(train + " --eval_interval 1e0");
  EXPECT_EQ(whole.status, 0) << "a whole number written as a real is fine\n" << whole.output;
  const std::string model = dir + "/run";
  for (const auto& [flag, what] : std::vector<std::pair<std::string, std::string>>{
           {"--temp nan", "--temp must be a finite number"},
           {"--top-p inf", "--top-p must be a finite number"},
           {"--temp -1", "--temp"},      // CLI11's own check, in our format
           {"-n -5", "-n"},
           {"--no-such-flag", "no-such-flag"}}) {
    expect_error(run("sample -m " + model + " -p hi " + flag + " -t 1"), what, flag);
  }
}

TEST(BadInput, DirectoriesAndFifosAreNotFiles) {
  const DataDir data("files");
  const std::string dir = data.path.string();
  expect_error(run("train -c " + dir), "not a regular file", "-c DIR");
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error(run("train -c " + fifo), "not a regular file", "-c FIFO");
  ASSERT_EQ(run("train --data_dir " + dir + "/shards --out_dir " + dir + "/run --max_iters 1" + kTiny).status, 0);
  expect_error(run("sample -m " + dir + "/run -f " + dir + " -n 2 -t 1"), "not a regular file", "-f DIR");
  expect_error(run("sample -m " + dir + "/run -f " + fifo + " -n 2 -t 1"), "not a regular file", "-f FIFO");
  std::ofstream(dir + "/plain_file") << "x";
  const auto out_is_file = run("train --data_dir " + dir + "/shards --out_dir " + dir + "/plain_file --max_iters 1" + kTiny);
  EXPECT_EQ(out_is_file.status, 1) << out_is_file.output;
  EXPECT_EQ(out_is_file.output.rfind("error: ", 0), 0u) << out_is_file.output;
}

// A 5,000-character path (past PATH_MAX and NAME_MAX) given to every command that takes one:
// one error line of readable length, the path cut in its middle, never an abort.
TEST(BadInput, OverlongPathsAreErrorsOfReadableLength) {
  const testing::TempDir dir("overlong");
  std::string path = dir.path.string();
  while (path.size() < 5000) path += "/" + std::string(250, 'd');
  const std::string model = path + "/m.safetensors";
  for (const std::string& args : {"info " + model, "sample -m " + model + " -n 2 -t 1", "check " + model,
                                 "prepare " + path + "/t.txt -o " + path, "train --out_dir " + path + " --max_iters 1" + kTiny,
                                 "train -c " + path + "/c.json"}) {
    const auto r = run(args);
    expect_error(r, "error: ", args.substr(0, 40));
    size_t longest = 0, start = 0;
    for (size_t end; (end = r.output.find('\n', start)) != std::string::npos; start = end + 1)
      longest = std::max(longest, end - start);
    EXPECT_LT(longest, 600u) << args.substr(0, 40) << "\n" << r.output;
    EXPECT_NE(r.output.find("characters)..."), std::string::npos) << r.output;
  }
}

// Under an address-space limit OpenBLAS cannot map a buffer for each of many threads and would
// retry forever: the thread count is checked against the limit first. (The limit must leave
// OpenBLAS its start-up buffers, ~300 MB, or it hangs while loading, before main runs.)
TEST(BadInput, ThreadsBeyondTheAddressSpaceLimitAreAnError) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "ASan maps terabytes of shadow memory and cannot run under ulimit -v";
#endif
  const DataDir data("threads");
  const std::string dir = data.path.string();
  const std::string tiny_without_threads = kTiny.substr(0, kTiny.rfind(" -t 1"));
  const std::string args =
      "train --data_dir " + dir + "/shards --out_dir " + dir + "/run --max_iters 1" + tiny_without_threads;
  const auto r = testing::run_command("ulimit -v 1500000; timeout 60 " + std::string(MOSAIC_BINARY) + " " + args +
                                      " -t 64 </dev/null");
  expect_error(r, "address space", "-t 64 under ulimit -v");
  expect_error(run(args + " -t 100000"), "threads", "-t 100000");
}

// A learning rate that sends the weights to infinity: the run stops with an error naming the
// last good checkpoint, and only finite checkpoints exist, even with keep_checkpoints 1.
// MOSAIC_SIMD names the kernels' vector width (kernels/cpu_target.hpp); a wrong one is refused
// before any work, whatever the command.
TEST(BadInput, UnknownSimdTargetIsAnError) {
  for (const std::string args : {"bench gemm", "info nothing.safetensors"}) {
    const auto r = testing::run_command("MOSAIC_SIMD=avx1024 timeout 60 " + std::string(MOSAIC_BINARY) + " " + args +
                                        " </dev/null");
    expect_error(r, "MOSAIC_SIMD=avx1024 is not a target", args);
  }
  const auto forced = testing::run_command("MOSAIC_SIMD=avx2 timeout 60 " + std::string(MOSAIC_BINARY) + " info x </dev/null");
  EXPECT_EQ(forced.output.find("MOSAIC_SIMD"), std::string::npos) << forced.output;
}

TEST(BadInput, ADivergedRunIsNeverSavedAsGood) {
  const DataDir data("diverge");
  const std::string dir = data.path.string();
  const std::string out = dir + "/run";
  const std::string base = "train --data_dir " + dir + "/shards --out_dir " + out + " --keep_checkpoints 1 --checkpoint_interval 2" + kTiny;
  ASSERT_EQ(run(base + " --max_iters 2").status, 0);
  const auto r = run(base + " --max_iters 6 --resume --learning_rate 1e39 --min_lr 1e39 --grad_clip 0");
  expect_error(r, "no checkpoint written", "lr 1e39");
  EXPECT_NE(r.output.find("last good checkpoint (step 2)"), std::string::npos) << r.output;
  const auto steps = list_checkpoints(out);
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.back(), 2);
  auto model = load_model(checkpoint_model_path(out, steps.back()));
  auto& p = model->params();
  bool finite = true;
  for (size_t i = 0; i < p.arena_size(); ++i) finite &= std::isfinite(p.values()[i]);
  EXPECT_TRUE(finite);
}

// --resume without the original flags continues with the run's settings; a changed trainer
// setting is printed and recorded; a changed model setting is an error.
TEST(BadInput, ResumeKeepsTheRunsOwnSettings) {
  const DataDir data("resume");
  const std::string dir = data.path.string();
  const std::string out = dir + "/run";
  ASSERT_EQ(run("train --data_dir " + dir + "/shards --out_dir " + out + " --max_iters 2 --grad_clip 0.5 --lr_decay_iters 9" + kTiny).status, 0);
  const auto resumed = run("train --out_dir " + out + " --resume --max_iters 4");
  EXPECT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resume: max_iters 2 -> 4"), std::string::npos) << resumed.output;
  std::ifstream in(out + "/config.json");
  const std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(config.find("\"grad_clip\": 0.5"), std::string::npos) << config;
  EXPECT_NE(config.find("\"max_iters\": 4"), std::string::npos) << config;
  EXPECT_NE(config.find("\"lr_decay_iters\": 9"), std::string::npos) << config;
  expect_error(run("train --out_dir " + out + " --resume --max_iters 6 --n_embd 32"), "differs from the run's", "--n_embd");
  expect_error(run("train --out_dir " + dir + "/nothing --resume"), "--resume", "no run");
}

// A copy of a safetensors file with some tensors replaced (or dropped when `replace` gives an
// empty shape and no data); the metadata is kept.
using Replacement = std::function<bool(const std::string& name, safetensors::Writer& out)>;
void rewrite(const std::string& in, const std::string& out, const Replacement& replace) {
  const auto file = safetensors::Reader::open(in);
  safetensors::Writer w;
  for (const auto& [k, v] : file.metadata()) w.set_metadata(k, v);
  for (const auto& name : file.names()) {
    if (replace(name, w)) continue;
    const auto& info = file.info(name);
    w.add(name, info.dtype, info.shape, file.raw(name));
  }
  w.write(out);
}

// Damaged model, state and shard files, and FIFOs where files belong: one error each.
TEST(BadInput, DamagedFilesAreRefused) {
  const DataDir data("damaged");
  const std::string dir = data.path.string();
  const std::string out = dir + "/run";
  ASSERT_EQ(run("train --data_dir " + dir + "/shards --out_dir " + out + " --max_iters 2 --checkpoint_interval 2" + kTiny).status, 0);
  const std::string model = checkpoint_model_path(out, 2), state = checkpoint_state_path(out, 2);

  // NaN weights: refused by every command that loads a model.
  const std::string nan_model = dir + "/nan.safetensors";
  rewrite(model, nan_model, [](const std::string& name, safetensors::Writer& w) {
    if (name != "mosaic.h.0.attn.c_proj.weight") return false;
    std::vector<float> v(16 * 16, std::nanf(""));
    w.add_f32(name, {16, 16}, v.data());
    return true;
  });
  expect_error(run("sample -m " + nan_model + " -n 2 -t 1"), "non-finite values", "NaN weights");
  const auto info = run("info " + nan_model);  // info inspects the file and says what is wrong
  EXPECT_EQ(info.status, 0) << info.output;
  EXPECT_NE(info.output.find("mosaic.h.0.attn.c_proj.weight holds 256 non-finite values"), std::string::npos) << info.output;

  // A plain state_dict whose embedding is 1-D: an error, not an abort.
  const std::string flat = dir + "/flat.safetensors";
  {
    safetensors::Writer w;
    std::vector<float> v(32, 0.5f);
    w.add_f32("mosaic.wte.weight", {32}, v.data());
    w.write(flat);
  }
  expect_error(run("info " + flat), "not 2-D", "1-D wte");

  // Train-state files: an empty AdamW step, a negative step.
  for (const auto& [tensor, what] : std::vector<std::pair<std::string, std::string>>{
           {"adamw.step", "adamw.step"}, {"step_and_tokens", "step_and_tokens"}}) {
    const std::string copy = dir + "/copy_" + tensor;
    fs::remove_all(copy);
    fs::copy(out, copy);
    rewrite(state, checkpoint_state_path(copy, 2), [&](const std::string& name, safetensors::Writer& w) {
      if (name != tensor) return false;
      const int64_t bad[2] = {-5, 100};
      if (tensor == "adamw.step") w.add_i64(name, {0}, nullptr);
      else w.add_i64(name, {2}, bad);
      return true;
    });
    expect_error(run("train --out_dir " + copy + " --resume --max_iters 4"), what, tensor);
  }

  // A shard with an llm.c header but the wrong magic is not read as a headerless stream.
  {
    std::vector<uint16_t> tokens(600, 7);
    write_token_shard(dir + "/shards/train.bin", tokens);
    std::fstream f(dir + "/shards/train.bin", std::ios::in | std::ios::out | std::ios::binary);
    const int32_t wrong = 20240519;
    f.write(reinterpret_cast<const char*>(&wrong), 4);
  }
  expect_error(run("train --data_dir " + dir + "/shards --out_dir " + dir + "/run_magic --max_iters 1" + kTiny),
               "instead of 20240520", "magic");

  // FIFOs where a model or a shard belongs: an error at once, not a wait for a writer.
  const std::string fifo = dir + "/model.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error(run("info " + fifo), "not a regular file", "FIFO model");
  expect_error(run("sample -m " + fifo + " -n 1"), "not a regular file", "FIFO model, sample");
  fs::remove(dir + "/shards/train.bin");
  ASSERT_EQ(::mkfifo((dir + "/shards/train.bin").c_str(), 0600), 0);
  expect_error(run("train --data_dir " + dir + "/shards --out_dir " + dir + "/run_fifo --max_iters 1" + kTiny),
               "not a regular file", "FIFO shard");
}

// Temp files of killed writers (NAME.tmp.<pid> whose pid is gone) go at the next start.
TEST(BadInput, StaleTempFilesOfKilledRunsAreRemoved) {
  const DataDir data("stale");
  const std::string dir = data.path.string();
  const std::string out = dir + "/run";
  ASSERT_EQ(run("train --data_dir " + dir + "/shards --out_dir " + out + " --max_iters 2" + kTiny).status, 0);
  // A pid that does not run: one past the kernel's limit would be rejected, so take a child's.
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  const std::string stale = out + "/ckpt_0000004.safetensors.tmp." + std::to_string(gone);
  const std::string live = out + "/ckpt_0000004.safetensors.tmp." + std::to_string(::getpid());
  std::ofstream(stale) << std::string(1000, 'x');
  std::ofstream(live) << "a writer that still runs";
  const auto r = run("train --out_dir " + out + " --resume --max_iters 3");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("removed"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
}

}  // namespace
}  // namespace mosaic
