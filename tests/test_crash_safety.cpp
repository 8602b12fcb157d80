// Crash safety: a training run SIGKILLed at random moments (with a checkpoint every step, so
// many kills land inside a checkpoint write) always leaves a newest checkpoint that loads,
// model and train state, and a run that resumes. MOSAIC_KILL_ROUNDS sets the number of kills
// (a few here; `make test-kill` runs 200).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "io/model_io.hpp"
#include "synthetic_shards.hpp"
#include "temp_dir.hpp"
#include "train/adamw.hpp"
#include "train/checkpoint.hpp"

namespace mosaic {
namespace {

namespace fs = std::filesystem;

// Starts `mosaic args...` with its output discarded; returns its pid.
pid_t spawn(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv{const_cast<char*>(MOSAIC_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(MOSAIC_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(CrashSafety, RunsKilledAtRandomMomentsAlwaysResume) {
  const char* env = std::getenv("MOSAIC_KILL_ROUNDS");
  const int rounds = env ? std::atoi(env) : 4;
  const testing::TempDir tmp("kill");
  const std::string dir = tmp.path.string();
  testing::write_random_shards(dir + "/shards", 8000, 32, 11);
  Rng rng(11);
  const std::string out = dir + "/run";
  const std::vector<std::string> train = {
      "train", "--data_dir", dir + "/shards", "--out_dir", out, "--max_iters", "1000000", "--lr_decay_iters", "1000000",
      "--checkpoint_interval", "1", "--keep_checkpoints", "2", "--eval_interval", "0", "--vocab_size", "32",
      "--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--pmem_size", "16",
      "--batch_size", "4", "--sample_interval", "0", "--log_interval", "1000", "-t", "1"};
  int kills_with_a_checkpoint = 0, kills_inside_a_write = 0;
  // Round 0 waits for the first checkpoint (at most 60 s) and times it; the later rounds kill at
  // a random moment within twice that (at least 300 ms): start-up, steps, writes. So a slow
  // build (the sanitizers: several times slower to start) kills as often after checkpoints
  // and inside writes as a fast one.
  int64_t window_us = 300000;
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::string> args = train;
    if (!list_checkpoints(out).empty()) args.push_back("--resume");
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = spawn(args);
    if (round == 0) {
      while (list_checkpoints(out).empty() && std::chrono::steady_clock::now() - start < std::chrono::seconds(60))
        ::usleep(2000);
      const auto first = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
      window_us = std::max<int64_t>(window_us, 2 * first.count());
      ::usleep(static_cast<useconds_t>(rng.below(static_cast<uint64_t>(window_us / 4))));
    } else {
      ::usleep(static_cast<useconds_t>(30000 + rng.below(static_cast<uint64_t>(window_us))));
    }
    ::kill(pid, SIGKILL);
    wait_for(pid);
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(out, ec))  // a temp file left: killed mid-write
      if (entry.path().filename().string().find(".tmp.") != std::string::npos) {
        ++kills_inside_a_write;
        break;
      }
    const auto steps = list_checkpoints(out);
    if (steps.empty()) continue;  // killed before the first checkpoint
    ++kills_with_a_checkpoint;
    SCOPED_TRACE("round " + std::to_string(round) + ", newest checkpoint " + std::to_string(steps.back()));
    auto model = load_model(checkpoint_model_path(out, steps.back()));
    AdamW<float> optimizer(model->params(), AdamWConfig{});
    TrainState state;
    ASSERT_NO_THROW(load_train_state(checkpoint_state_path(out, steps.back()), state, optimizer, model->params()));
    EXPECT_EQ(state.step, steps.back());
  }
  EXPECT_GT(kills_with_a_checkpoint, 0) << "no kill came after a checkpoint: the timing is too short";
  std::printf("%d kills: %d after the first checkpoint, %d inside a write\n", rounds, kills_with_a_checkpoint,
              kills_inside_a_write);
  // And the run goes on from wherever the last kill left it.
  std::vector<std::string> finish = train;
  const int64_t last = list_checkpoints(out).empty() ? 0 : list_checkpoints(out).back();
  finish[6] = std::to_string(last + 2);  // --max_iters
  finish.push_back("--resume");
  if (last == 0) finish.pop_back();
  const int status = wait_for(spawn(finish));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(list_checkpoints(out).back(), last + 2);
}

}  // namespace
}  // namespace mosaic
