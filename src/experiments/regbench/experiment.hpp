// RegBench end to end (paper figure 11, table 4): for each model config and training-set size N,
// generate the tasks, train with the engine's trainer on whole task sequences, keep the best
// validation checkpoint, score it on fresh test automata (metrics.hpp), and collect the points.
// Each grid point is its own run folder, resumed from its checkpoints and skipped once its
// result.json exists, so a long protocol can stop and continue at any time.
// Not the CLI (cli/cmd_regbench.cpp), not the data (dfa.hpp) or the scores (metrics.hpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "experiments/regbench/dfa.hpp"
#include "train/batch_sampler.hpp"

namespace mosaic::regbench {

struct Protocol {
  std::vector<int> sizes;          // training automata N, one sequence each
  bool iid = true;                 // also table 4's IID variant at the smallest N
  int epochs = 0;                  // > 0: epochs per point (seq_icl: 200)
  int64_t steps = 0;               // > 0 instead: optimizer steps per point (the reduced protocol)
  int val_tasks = 500, test_tasks = 500;
  int evaluations = 50;            // validation passes per run (the best one is tested)
  uint64_t seed = 1;               // of the data; each config keeps its own training seed
  int seeds = 1;                   // training seeds at the smallest N: the config's, then +1, +2, ...
  std::vector<int> ngram_orders{2, 3, 4};  // the in-context n-gram counter's rows (ngram.hpp): no training
  bool relabel = false;            // training letters renamed at every draw (TaskBatches); points named *_relabel_N*
  bool epoch_batches = false;      // seq_icl's epochs, the last batch short (TaskBatches); points named *_epochbatch_N*

  static Protocol paper();         // the paper's length (200 epochs) at N = 100, 500, 1000: the default
  static Protocol full();          // the paper's grid: N up to 40,000 (days on 2 cores)
  static Protocol quick();         // 500 steps per point, about an hour on 2 cores (docs/regbench.md)
};

struct Options {
  Protocol protocol;
  std::vector<std::string> configs;  // train config JSON files (configs/regbench_*.json); none: counters only
  std::string runs_dir = "runs/regbench";   // one run folder per point: checkpoints, result.json
  std::string out_dir = "docs/regbench";    // results.json, results.csv
  int threads = 0;
  bool rescore = false;  // score finished points again from their best.safetensors (no training)
};

// One grid point's outcome (its result.json).
struct PointResult {
  // model: the config file's name without "regbench_" and ".json" (mosaic, mosaic_v2, gpt), or
  // ngram<n>; name: model_N<n>[_iid]; variant: "ood" (fresh test automata) or "iid".
  std::string name, model, arch, variant;
  uint64_t train_seed = 0;  // the config's seed, + k for the k-th extra seed
  int n = 0;
  double accuracy = 0, l1 = 0, tvd = 0, legal_mass = 0, best_val_loss = 0, train_seconds = 0;
  int64_t steps = 0, best_step = 0, positions = 0, params = 0;
  double epochs = 0;
};

// Trains and scores every point not yet done; writes out_dir/results.{json,csv} after each.
std::vector<PointResult> run(const Options& options);

// Whole task sequences as training batches: each epoch a fresh permutation of the tasks (from
// the seed and the epoch: no state, so a resumed run draws the same batches), micro-batches of
// B sequences padded to their longest (kPad inputs, ignored targets). With relabel, every draw
// of a sequence renames its letters by a random permutation of the 18 (from the seed and the
// draw's number): the automata's distribution is the same under any renaming (dfa.cpp picks the
// alphabet as a random subset), so a renamed sequence is a draw of an automaton isomorphic to
// the original, and what a model can memorise of a letter's role is gone. Still N automata;
// validation and test tasks are never renamed.
// Without epoch_batches every step takes B x accumulation sequences, running on into the next
// epoch's permutation (N = 100: 800 steps draw 25,600 sequences, 256 epochs). With it, as
// seq_icl's loader: each epoch is its N sequences in steps of B x accumulation, the last step
// short (N = 100: 32, 32, 32 and 4), its sequences shared out over the micro-batches (200 epochs
// are 800 steps and 20,000 draws).
class TaskBatches : public BatchSource {
 public:
  TaskBatches(std::vector<Task> train, std::vector<Task> val, int B, int accumulation, uint64_t seed,
              bool relabel = false, bool epoch_batches = false);
  void train_batch(int64_t step, int micro, Rng& rng, Batch& out) override;
  const std::vector<Batch>& val_set() const override { return val_; }
  std::string describe() const override;

  // Sequences i..i+n-1 of `tasks` as one padded batch.
  static void pad_batch(const std::vector<const Task*>& tasks, Batch& out);

 private:
  const std::vector<int>& permutation(int64_t epoch);
  std::vector<Task> train_;
  std::vector<Batch> val_;
  int B_, accumulation_;
  uint64_t seed_;
  bool relabel_, epoch_batches_;
  int64_t cached_epoch_ = -1;
  std::vector<int> perm_;
};

// Scores a model file on tasks: one full forward per task, softmax of every position's logits.
struct TestScores {
  double accuracy = 0, l1 = 0, tvd = 0, legal_mass = 0;
  int64_t positions = 0;
};
TestScores score_model(const std::string& model_path, const std::vector<Task>& tasks);
// The in-context n-gram counter of order n on the same tasks.
TestScores score_ngram(int n, const std::vector<Task>& tasks);

nlohmann::json to_json(const PointResult& r);

}  // namespace mosaic::regbench
