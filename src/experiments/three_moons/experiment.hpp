// The whole three-moons experiment behind `mosaic three-moons`: train the 1-head and 3-head
// networks for several seeds, evaluate, measure disentanglement, write CSVs and a summary.
// Not the CLI (cli/cmd_three_moons.cpp) and not the plots (tools/plot_three_moons.py).
// Shapes: see data.hpp (T, 6 reals per observation) and model.hpp (H heads, 54 parameters).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "experiments/three_moons/data.hpp"
#include "experiments/three_moons/disentangle.hpp"
#include "experiments/three_moons/evaluate.hpp"
#include "experiments/three_moons/model.hpp"
#include "experiments/three_moons/train.hpp"

namespace mosaic::three_moons {

struct ExperimentConfig {
  std::string out_dir = "runs/three_moons";
  uint64_t seed = 100;  // the reference's seed; run k uses seed + k
  int seeds = 5;        // 3-head runs; the disentanglement fraction is over these
  int seeds_1head = 1;  // 1-head runs (the contrast needs one; more cost ~40 s of CPU each)
  // The first run of each variant gets the full error curves and the figures; the others are
  // evaluated at the two marked context lengths only.
  double beta = 50.0;
  DataConfig data;
  TrainConfig train;  // its seed field is overwritten per run
  EvalConfig eval;
};

// One trained network: its parameters, disentanglement and errors at the two marked contexts.
struct RunResult {
  int n_head = 0;
  uint64_t seed = 0;
  TrainResult train;
  Disentanglement dis;
  // [split][k]: split 0 = training periods, 1 = validation periods; k 0 = 1.2 max(p), 1 = 1.2 lcm.
  double mean_err[2][2] = {}, median_err[2][2] = {};
};

struct ExperimentSummary {
  std::vector<RunResult> runs;  // 1-head runs then 3-head runs, seed order
  int marked_ctx[2][2] = {};    // [split][k] context lengths round(1.2 max p), round(1.2 lcm)
  double repeat_last[2][2] = {};
  int disentangled_3head = 0, seeds_3head = 0;
  double seconds = 0;
  std::string text;  // the human summary, also written to summary.txt
};

// Runs everything and writes into cfg.out_dir: periods.csv, loss.csv, error_vs_context.csv,
// matrices.csv, seeds.csv, summary.txt. Progress goes to stderr; the summary is returned.
ExperimentSummary run_three_moons(const ExperimentConfig& cfg);

}  // namespace mosaic::three_moons
