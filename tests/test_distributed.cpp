// Data-parallel training under mpirun (dist/communicator.hpp, the trainer's rank split), as a
// user runs it: 2 ranks x batch B against 1 process x batch 2B, exact resume under MPI, a
// resume with another number of processes refused, a killed rank ending the whole run with
// its last checkpoint loadable, and two "hosts" (network namespaces) over TCP. Skipped, with
// the reason, where mpirun or MPI support is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dist/communicator.hpp"
#include "core/rng.hpp"
#include "io/model_io.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "models/language_model.hpp"
#include "run_command.hpp"
#include "synthetic_shards.hpp"
#include "temp_dir.hpp"
#include "tiny_model.hpp"

namespace mosaic {
namespace {

namespace fs = std::filesystem;

// OpenMPI refuses root without these; --oversubscribe: 2 ranks on machines with 1 or 2 cores.
// Under make test-sanitize, LeakSanitizer would report OpenMPI's own allocations at exit (its
// plugins are unloaded by then): leak checks stay on for every process mpirun does not start.
const std::string kMpiEnv = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 ";
const std::string kMpirun = kMpiEnv + "timeout 120 mpirun --oversubscribe --mca btl self,vader,tcp";

#define REQUIRE_MPI()                                                                               \
  do {                                                                                              \
    if (!Communicator::built_with_mpi()) GTEST_SKIP() << "built without MPI (cmake -DMOSAIC_MPI=OFF)"; \
    if (testing::run_command("command -v mpirun").status != 0) GTEST_SKIP() << "mpirun not installed"; \
  } while (0)

// A test's folder (removed at its end) with token shards of a 97-token vocabulary in data/.
struct Dirs {
  testing::TempDir tmp{"dist"};
  std::string root = tmp.path.string(), data = root + "/data";
  Dirs() { testing::write_random_shards(data, 40000, 97, 5); }
};

// A tiny Memory Mosaic run; per-process batch `batch`.
std::string train_args(const Dirs& d, const std::string& out, int batch, int max_iters, int decay_iters) {
  return std::string(MOSAIC_BINARY) +
         " train --arch mosaic --n_layer 2 --n_head 2 --n_embd 16 --block_size 16 --vocab_size 97 --pmem_size 8"
         " --data_dir " + d.data + " --out_dir " + d.root + "/" + out + " --batch_size " + std::to_string(batch) +
         " --max_iters " + std::to_string(max_iters) + " --lr_decay_iters " + std::to_string(decay_iters) +
         " --warmup_iters 2 --learning_rate 3e-3 --eval_interval 4 --eval_iters 2 --log_interval 1"
         " --checkpoint_interval 4 --keep_checkpoints 10 --sample_interval 0 -t 1";
}

std::unique_ptr<LanguageModel<float>> checkpoint(const Dirs& d, const std::string& run, int step) {
  char name[64];
  std::snprintf(name, sizeof name, "/ckpt_%07d.safetensors", step);
  return load_model(d.root + "/" + run + name);
}

double max_abs_diff(LanguageModel<float>& a, LanguageModel<float>& b) {
  auto& pa = a.params();
  auto& pb = b.params();
  EXPECT_EQ(pa.arena_size(), pb.arena_size());
  double m = 0;
  for (size_t i = 0; i < pa.arena_size(); ++i) m = std::max(m, std::abs(double(pa.values()[i]) - pb.values()[i]));
  return m;
}

// The training losses of metrics.jsonl, in step order.
std::vector<double> train_losses(const Dirs& d, const std::string& run) {
  std::ifstream in(d.root + "/" + run + "/metrics.jsonl");
  std::vector<double> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"split\":\"train\"") == std::string::npos) continue;
    const size_t at = line.find("\"loss\":") + 7;
    out.push_back(std::stod(line.substr(at)));
  }
  return out;
}

// The overlap's premise: when the hook of block l runs, block l's gradients are final (the
// backward pass of the blocks below and of the embeddings never writes them again), and the
// blocks' ranges are disjoint, in order, and leave out only the embeddings and ln_f.
TEST(GradientBuckets, ABlocksGradientsAreFinalWhenItsHookRuns) {
  for (const std::string arch : {"mosaic", "gpt"}) {
    const ModelConfig c = testing::tiny_config(arch, {.vocab_size = 41, .block_size = 12, .n_layer = 3});
    auto model = make_model<float>(c);
    Rng rng(4);
    init_parameters(model->params(), c, rng);
    auto& params = model->params();
    std::vector<int> order;
    std::vector<std::vector<float>> at_hook(c.n_layer);
    model->set_backward_hook([&](int l) {
      order.push_back(l);
      const auto [begin, end] = model->block_params(l);
      at_hook[l].assign(params.grads() + begin, params.grads() + end);
    });
    std::vector<int32_t> idx(2 * 12), targets(2 * 12);
    for (size_t i = 0; i < idx.size(); ++i) {
      idx[i] = static_cast<int32_t>(rng.below(41));
      targets[i] = static_cast<int32_t>(rng.below(41));
    }
    params.zero_grad();
    model->forward(idx.data(), targets.data(), 2, 12);
    model->backward();
    EXPECT_EQ(order, (std::vector<int>{2, 1, 0})) << arch;
    size_t previous_end = 0;
    for (int l = 0; l < c.n_layer; ++l) {
      const auto [begin, end] = model->block_params(l);
      EXPECT_GE(begin, previous_end) << arch;
      EXPECT_LT(begin, end);
      previous_end = end;
      const float* now = params.grads() + begin;
      EXPECT_TRUE(std::equal(at_hook[l].begin(), at_hook[l].end(), now)) << arch << " block " << l;
      double norm = 0;
      for (float g : at_hook[l]) norm += double(g) * g;
      EXPECT_GT(norm, 0) << arch << " block " << l << ": no gradient reached the block";
    }
    EXPECT_LT(previous_end, params.arena_size()) << "ln_f comes after the blocks";
    EXPECT_GT(model->block_params(0).first, 0u) << "the embeddings come before them";
  }
}

TEST(Distributed, TwoRanksOfBatchBTrainAsOneProcessOfBatchTwoB) {
  REQUIRE_MPI();
  Dirs d;
  const auto one = testing::run_command(train_args(d, "one", 4, 12, 12));
  ASSERT_EQ(one.status, 0) << one.output;
  const auto two = testing::run_command(kMpirun + " -np 2 " + train_args(d, "two", 2, 12, 12));
  ASSERT_EQ(two.status, 0) << two.output;
  EXPECT_NE(two.output.find("2 processes x batch 2"), std::string::npos) << two.output;
  EXPECT_NE(two.output.find("ms not hidden)"), std::string::npos) << two.output;
  // The same windows in the same steps: only the order of float32 sums differs (the two
  // halves' gradients are added by MPI instead of inside the gemms), ~1e-7 per step.
  const auto a = train_losses(d, "one"), b = train_losses(d, "two");
  ASSERT_EQ(a.size(), 12u);
  ASSERT_EQ(b.size(), 12u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4) << "step " << i + 1;
  const auto ma = checkpoint(d, "one", 12), mb = checkpoint(d, "two", 12), early = checkpoint(d, "one", 4);
  const double diff = max_abs_diff(*ma, *mb), moved = max_abs_diff(*ma, *early);
  EXPECT_LT(diff, 2e-5) << "weights after 12 steps";
  EXPECT_GT(moved, 100 * diff) << "the weights must move far more than the two runs differ";
}

TEST(Distributed, ResumeUnderMpiIsExactAndNeedsTheSameNumberOfProcesses) {
  REQUIRE_MPI();
  Dirs d;
  const auto straight = testing::run_command(kMpirun + " -np 2 " + train_args(d, "straight", 2, 8, 8));
  ASSERT_EQ(straight.status, 0) << straight.output;
  const auto first = testing::run_command(kMpirun + " -np 2 " + train_args(d, "resumed", 2, 4, 8));
  ASSERT_EQ(first.status, 0) << first.output;
  const auto refused = testing::run_command(train_args(d, "resumed", 4, 8, 8) + " --resume");
  EXPECT_EQ(refused.status, 1) << refused.output;
  EXPECT_NE(refused.output.find("error: the checkpoint at step 4 was trained by 2 processes, this run has 1"),
            std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("hint: resume it with the same number of processes (mpirun -np 2)"), std::string::npos)
      << refused.output;
  const auto rest = testing::run_command(kMpirun + " -np 2 " + train_args(d, "resumed", 2, 8, 8) + " --resume");
  ASSERT_EQ(rest.status, 0) << rest.output;
  EXPECT_EQ(max_abs_diff(*checkpoint(d, "straight", 8), *checkpoint(d, "resumed", 8)), 0.0);
  EXPECT_EQ(train_losses(d, "straight"), train_losses(d, "resumed"));
}

TEST(Distributed, AKilledRankEndsEveryRankAndTheLastCheckpointLoads) {
  REQUIRE_MPI();
  Dirs d;
  // Rank 1 is killed (SIGKILL) once rank 0 has written a checkpoint; mpirun must end rank 0
  // too instead of leaving it waiting in an allreduce.
  const std::string script =
      kMpirun + " -np 2 " + train_args(d, "killed", 2, 1000000, 1000000) + " > " + d.root + "/log 2>&1 & run=$!; " +
      "for i in $(seq 600); do ls " + d.root + "/killed/ckpt_*.state.safetensors >/dev/null 2>&1 && break; sleep 0.1; done; "
      "for p in $(pgrep -f 'out_di[r] " + d.root + "/killed'); do "
      "  tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && kill -9 $p && echo killed rank 1; "
      "done; wait $run; echo mpirun exited $?";
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = testing::run_command(script);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_NE(r.output.find("killed rank 1"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("mpirun exited 0"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("mpirun exited 124"), std::string::npos) << "rank 0 hung until the timeout\n" << r.output;
  EXPECT_LT(seconds, 100);
  const auto left = testing::run_command("pgrep -f 'out_di[r] " + d.root + "/killed'");  // [r]: not this shell
  EXPECT_NE(left.status, 0) << "processes left running:\n" << left.output;
  const auto info = testing::run_command(std::string(MOSAIC_BINARY) + " info " + d.root + "/killed");
  EXPECT_EQ(info.status, 0) << info.output;
}

TEST(Distributed, TwoHostsOverTcpTrainAsTwoLocalRanks) {
  REQUIRE_MPI();
  if (::geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  Dirs d;
  const auto local = testing::run_command(kMpirun + " -np 2 " + train_args(d, "local", 2, 8, 8));
  ASSERT_EQ(local.status, 0) << local.output;
  const auto hosts = testing::run_command(kMpiEnv + "timeout 120 bash " + std::string(MOSAIC_SOURCE_DIR) + "/tests/two_hosts.sh " +
                                          train_args(d, "hosts", 2, 8, 8));
  if (hosts.status == 77) GTEST_SKIP() << hosts.output;
  ASSERT_EQ(hosts.status, 0) << hosts.output;
  EXPECT_NE(hosts.output.find("2 processes x batch 2"), std::string::npos) << hosts.output;
  // Two ranks add the same two gradients whichever transport carries them: bit for bit.
  EXPECT_EQ(max_abs_diff(*checkpoint(d, "local", 8), *checkpoint(d, "hosts", 8)), 0.0);
}

}  // namespace
}  // namespace mosaic
