// `mosaic regbench`: in-context language learning on RegBench (experiments/regbench/), the
// paper's training length at N = 100, 500, 1000 by default, --full for its whole grid, --quick
// for an hour's check; then the figure (tools/plot_regbench.py).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/resources.hpp"
#include "experiments/regbench/experiment.hpp"
#include "kernels/threads.hpp"

namespace mosaic {

namespace {

struct RegBenchCommandOptions {
  bool full = false, quick = false, no_iid = false, no_plot = false, rescore = false, ngram_only = false, relabel = false, epoch_batches = false;
  std::vector<int> sizes, ngram{2, 3, 4};
  std::vector<std::string> configs;
  int64_t steps = 0;
  int epochs = 0, val_tasks = 0, test_tasks = 0, threads = 0, seeds = 1;
  uint64_t seed = 1;
  std::string runs_dir = "runs/regbench", out_dir;
};

// A config file as given, else one of the shipped configs (core/resources.hpp).
std::string config_path(const std::string& name) {
  if (std::filesystem::is_regular_file(name)) return name;
  const std::string dir = find_resource("configs", nullptr, "configs", [](const std::string& d) {
    return std::filesystem::is_regular_file(d + "/regbench_mosaic.json");
  });
  const std::string shipped = dir + "/" + name;
  MOSAIC_CHECK(std::filesystem::is_regular_file(shipped), "regbench: no config " + name,
               "pass a train config JSON file, e.g. configs/regbench_mosaic.json");
  return shipped;
}

// tools/plot_regbench.py beside the configs (the checkout or the install tree).
std::string plot_script() {
  return find_resource("tools", nullptr, "tools", [](const std::string& d) {
    return std::filesystem::is_regular_file(d + "/plot_regbench.py");
  }) + "/plot_regbench.py";
}

}  // namespace

void add_regbench_command(CLI::App& app) {
  auto o = std::make_shared<RegBenchCommandOptions>();
  auto* cmd = app.add_subcommand(
      "regbench",
      "RegBench in-context language learning (paper figure 11, table 4): Memory Mosaic and GPT trained on N random "
      "automata, scored on fresh ones; resumable per grid point");
  cmd->add_flag("--full", o->full, "the paper's whole grid: N = 100, 500, 1000, 2500, 40000 (days on 2 cores)");
  cmd->add_flag("--quick", o->quick, "500 steps per point, 200 validation automata: about an hour on 2 cores");
  cmd->add_option("--sizes", o->sizes, "training-set sizes N (default 100 500 1000; with --full the paper's whole grid)")
      ->delimiter(',');
  cmd->add_option("--config", o->configs, "train config JSON per model (default: regbench_mosaic.json regbench_gpt.json)");
  cmd->add_option("--seeds", o->seeds, "training seeds at the smallest N (the config's seed, then +1, +2, ...)")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--steps", o->steps, "optimizer steps per grid point (--quick: 500)")->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--epochs", o->epochs, "epochs per grid point instead of --steps (default 200, the paper's)")->check(CLI::Range(1, 1000000));
  cmd->add_option("--val-tasks", o->val_tasks, "validation automata (500; --quick 200)")->check(CLI::Range(1, 1000000));
  cmd->add_option("--test-tasks", o->test_tasks, "test automata (500)")->check(CLI::Range(1, 1000000));
  cmd->add_flag("--no-iid", o->no_iid, "skip table 4's IID variant (test on the training automata)");
  cmd->add_flag("--relabel", o->relabel,
                "rename the training letters by a fresh random permutation at every draw (still N automata, up to "
                "isomorphism; runs named *_relabel_N*)");
  cmd->add_flag("--epoch-batches", o->epoch_batches,
                "seq_icl's batches: each epoch the N sequences in steps of 32, the last one short (N = 100: 32, 32, 32, "
                "4); without it every step takes 32, running on into the next epoch (runs named *_epochbatch_N*)");
  cmd->add_option("--seed", o->seed, "seed of the data (the configs hold the training seeds)");
  cmd->add_option("--runs", o->runs_dir, "run folders, one per grid point (checkpoints, result.json)");
  cmd->add_option("-o,--out", o->out_dir, "results.json, results.csv and the figure (default docs/regbench, --quick docs/regbench/quick)");
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)")->check(CLI::Range(0, 4096));
  cmd->add_option("--ngram", o->ngram,
                  "orders of the in-context n-gram counter scored beside the models (no training; 0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 16));
  cmd->add_flag("--ngram-only", o->ngram_only,
                "score only the n-gram counters on the protocol's test automata (seconds; no models trained)");
  cmd->add_flag("--no-plot", o->no_plot, "skip the figure");
  cmd->add_flag("--rescore", o->rescore, "score the finished points again from their best checkpoints (no training)");
  cmd->callback([o] {
    regbench::Options opts;
    MOSAIC_CHECK(!(o->full && o->quick), "regbench: --full and --quick together",
                 "--full trains the paper's whole grid, --quick a short check: pick one");
    opts.protocol = o->full ? regbench::Protocol::full() : o->quick ? regbench::Protocol::quick() : regbench::Protocol::paper();
    regbench::Protocol& p = opts.protocol;
    if (!o->sizes.empty()) p.sizes = o->sizes;
    if (o->epochs > 0) {
      p.epochs = o->epochs;
      p.steps = 0;
    }
    if (o->steps > 0) {
      p.steps = o->steps;
      p.epochs = 0;
    }
    if (o->val_tasks > 0) p.val_tasks = o->val_tasks;
    if (o->test_tasks > 0) p.test_tasks = o->test_tasks;
    p.iid = !o->no_iid;
    p.relabel = o->relabel;
    p.epoch_batches = o->epoch_batches;
    p.seed = o->seed;
    p.seeds = o->seeds;
    p.ngram_orders.clear();
    for (int n : o->ngram)
      if (n > 0) p.ngram_orders.push_back(n);
    MOSAIC_CHECK(!o->ngram_only || (o->configs.empty() && !p.ngram_orders.empty()),
                 "regbench: --ngram-only trains no model and needs an order", "drop --config, or give --ngram 3");
    for (const auto& c : o->configs.empty() ? std::vector<std::string>{"regbench_mosaic.json", "regbench_gpt.json"} : o->configs)
      if (!o->ngram_only) opts.configs.push_back(config_path(c));
    // --full shares the default's folders: its points at N <= 1000 are the same runs.
    opts.runs_dir = (std::filesystem::path(o->runs_dir) / (o->quick ? "quick" : "paper")).string();
    opts.out_dir = o->out_dir.empty() ? (o->quick ? "docs/regbench/quick" : "docs/regbench") : o->out_dir;
    opts.threads = o->threads;
    opts.rescore = o->rescore;
    set_threads(o->threads);
    regbench::run(opts);
    std::fprintf(stderr, "regbench: results in %s/results.json and results.csv\n", opts.out_dir.c_str());
    if (o->no_plot) return;
    const std::string script = plot_script();
    const std::string cmdline = "/usr/bin/python3 '" + script + "' '" + opts.out_dir + "/results.json' -o '" +
                                opts.out_dir + "/regbench.png'";
    if (std::system(cmdline.c_str()) != 0)
      std::fprintf(stderr, "regbench: no figure (needs Debian's python3-matplotlib); run: %s\n", cmdline.c_str());
  });
}

}  // namespace mosaic
