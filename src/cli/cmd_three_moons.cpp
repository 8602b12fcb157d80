// `mosaic three-moons`: the paper's predictive-disentanglement experiment (section 3, figures
// 4-6). Parses flags, runs src/experiments/three_moons/experiment.cpp, prints the summary and
// draws the figures with tools/plot_three_moons.py when python3 has matplotlib.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "kernels/threads.hpp"
#include "core/error.hpp"
#include "experiments/three_moons/experiment.hpp"

namespace mosaic {

namespace {

struct ThreeMoonsOptions {
  three_moons::ExperimentConfig cfg;
  bool quick = false;
  bool no_plot = false;
  int threads = 0;
};

// The plot script: next to the working directory's tools/, else in this source tree.
std::string find_plot_script() {
  namespace fs = std::filesystem;
  const fs::path rel = fs::path("tools") / "plot_three_moons.py";
  if (fs::exists(rel)) return rel.string();
  const fs::path here = fs::path(__FILE__).parent_path();  // <repo>/src/cli
  const fs::path in_tree = here.parent_path().parent_path() / rel;
  if (here.is_absolute() && fs::exists(in_tree)) return in_tree.string();
  return "";
}

// A python3 that can import matplotlib (Debian's python3-matplotlib lives in /usr/bin/python3,
// which a pyenv or venv python3 earlier on PATH may hide).
std::string find_python() {
  for (const char* py : {"python3", "/usr/bin/python3"}) {
    const std::string probe = std::string(py) + " -c 'import matplotlib' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return py;
  }
  return "";
}

void plot(const std::string& out_dir) {
  const std::string script = find_plot_script();
  const std::string py = script.empty() ? "" : find_python();
  const std::string how = "python3 tools/plot_three_moons.py " + out_dir;
  if (script.empty() || py.empty()) {
    std::fprintf(stderr, "[three-moons] %s; to draw the figures later: %s\n",
                 script.empty() ? "tools/plot_three_moons.py not found" : "no python3 with matplotlib",
                 how.c_str());
    return;
  }
  const std::string cmd = py + " '" + script + "' '" + out_dir + "'";
  if (std::system(cmd.c_str()) != 0)
    std::fprintf(stderr, "[three-moons] the plot script failed; rerun it with: %s\n", how.c_str());
}

void run(ThreeMoonsOptions& o, const CLI::App& cmd) {
  auto& c = o.cfg;
  if (o.quick) {  // seconds: fewer and shorter trainings, a coarse error curve; explicit flags win
    auto set = [&](const char* flag, auto& field, auto value) {
      if (cmd.count(flag) == 0) field = value;
    };
    set("--seeds", c.seeds, 2);
    set("--seeds-1head", c.seeds_1head, 1);
    set("--iters", c.train.iters, 40);
    set("--batch", c.train.batch, 8);
    set("--eval-seqs", c.eval.n_seqs, 16);
    set("--eval-stride", c.eval.ctx_stride, 32);
  }
  MOSAIC_CHECK(o.threads >= 0, "--threads must be >= 0", "0 uses every core");
  set_threads(o.threads);
  std::fprintf(stderr, "[three-moons] %s run into %s: %d x 1-head + %d x 3-head, %d steps of batch %d, %d threads\n",
               o.quick ? "quick" : "full", c.out_dir.c_str(), c.seeds_1head, c.seeds, c.train.iters, c.train.batch,
               omp_get_max_threads());
  const auto summary = three_moons::run_three_moons(c);
  std::printf("%s", summary.text.c_str());
  if (!o.no_plot) plot(c.out_dir);
}

}  // namespace

void add_three_moons_command(CLI::App& app) {
  auto o = std::make_shared<ThreeMoonsOptions>();
  auto* cmd = app.add_subcommand("three-moons",
                                 "paper section 3: train 1-head and 3-head memories on three moons, "
                                 "write error-vs-context and weight figures");
  auto& c = o->cfg;
  cmd->add_option("--out", c.out_dir, "output folder for CSVs, summary.txt and figures")->capture_default_str();
  cmd->add_flag("--quick", o->quick, "a few seconds: 2 seeds, 40 steps of batch 8, coarse curves (for tests)");
  cmd->add_option("-s,--seed", c.seed, "first seed (init, data and evaluation streams)")->capture_default_str();
  cmd->add_option("--seeds", c.seeds, "3-head runs (seed, seed+1, ...); the disentanglement fraction is over these")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option("--seeds-1head", c.seeds_1head, "1-head runs (the first one draws the figures)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option("-t,--threads", o->threads, "OpenMP threads (0: all cores)")->capture_default_str();
  cmd->add_option("--iters", c.train.iters, "training steps")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch", c.train.batch, "sequences per step")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--lr", c.train.lr, "initial learning rate (linear decay)")->capture_default_str();
  cmd->add_option("--lr-end", c.train.lr_end, "final learning rate")->capture_default_str();
  cmd->add_option("--beta", c.beta, "attention sharpness beta (fixed)")->capture_default_str();
  cmd->add_option("--eval-seqs", c.eval.n_seqs, "sequences per period set in the evaluation")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--gen-steps", c.eval.gen_steps, "autoregressive steps per context length")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--eval-stride", c.eval.ctx_stride, "evaluate every k-th context length")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-plot", o->no_plot, "write the CSVs only, do not call the plot script");
  cmd->callback([o, cmd] { run(*o, *cmd); });
}

}  // namespace mosaic
