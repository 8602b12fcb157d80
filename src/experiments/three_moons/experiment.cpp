// Three-moons experiment driver: trains, evaluates, measures and writes the CSVs the plot
// script reads. Not the CLI parsing and not the figures themselves.
// Shapes: per run 54 parameters; error curves over context lengths T for two period sets.
#include "experiments/three_moons/experiment.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/progress_line.hpp"

namespace mosaic::three_moons {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

const char* kSplitName[2] = {"train", "val"};

std::ofstream open_csv(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  std::ofstream f(path);
  MOSAIC_CHECK(f.good(), "cannot write " + path, "check that --out names a writable folder");
  f.precision(9);
  return f;
}

const PeriodSet& split_set(const MoonsData& data, int split) {
  return split == 0 ? data.train_eval_set() : data.val_set();
}

RunResult train_one(const ExperimentConfig& cfg, const MoonsData& data, int n_head, uint64_t seed) {
  RunResult r;
  r.n_head = n_head;
  r.seed = seed;
  MoonsModelConfig mcfg{n_head, cfg.beta, 0.5};
  TrainConfig tcfg = cfg.train;
  tcfg.seed = seed;
  const auto t0 = Clock::now();
  const int every = std::max(1, tcfg.iters / 10);
  r.train = train_model(mcfg, tcfg, data, [&](int step, double loss) {
    if ((step + 1) % every == 0 || step + 1 == tcfg.iters)
      std::fprintf(stderr, "[three-moons] %d-head seed %llu  step %4d/%d  loss %.5f  lr %.2e  %.1fs\n", n_head,
                   static_cast<unsigned long long>(seed), step + 1, tcfg.iters, loss, learning_rate(tcfg, step),
                   since(t0));
  });
  r.dis = measure_disentanglement(r.train.params.data());
  return r;
}

void write_periods(const std::string& dir, const MoonsData& data) {
  auto f = open_csv(dir, "periods.csv");
  f << "split,ratio1,ratio2,ratio3,p1,p2,p3,lcm,evaluated\n";
  auto row = [&](const char* split, const PeriodSet& s, bool evaluated) {
    f << split << ',' << s.ratio[0] << ',' << s.ratio[1] << ',' << s.ratio[2] << ',' << s.steps[0] << ','
      << s.steps[1] << ',' << s.steps[2] << ',' << s.lcm_steps << ',' << (evaluated ? 1 : 0) << '\n';
  };
  for (size_t i = 0; i < data.train_sets().size(); ++i)
    row("train", data.train_sets()[i], static_cast<int>(i) == MoonsData::kTrainEvalIndex);
  row("val", data.val_set(), true);
}

void write_matrices(std::ofstream& f, const RunResult& r) {
  for (int m = 0; m < 3; ++m)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        const float re = r.train.params[m * kMatrixReals + (i * 3 + j) * 2];
        const float im = r.train.params[m * kMatrixReals + (i * 3 + j) * 2 + 1];
        f << r.n_head << ',' << r.seed << ',' << matrix_name(m) << ',' << i << ',' << j << ',' << re << ',' << im
          << ',' << std::hypot(re, im) << '\n';
      }
}

std::string summary_text(const ExperimentConfig& cfg, const MoonsData& data, const ExperimentSummary& s) {
  std::ostringstream o;
  char buf[512];
  o << "three moons (paper section 3): " << cfg.seeds_1head << " x 1-head and " << cfg.seeds
    << " x 3-head runs from seed " << cfg.seed << ", " << cfg.train.iters << " steps of batch " << cfg.train.batch << ", " << cfg.eval.n_seqs << " eval sequences, "
    << cfg.eval.gen_steps << " generated steps\n";
  for (int split = 0; split < 2; ++split) {
    const PeriodSet& p = split_set(data, split);
    std::snprintf(buf, sizeof buf, "%-5s periods %.1f %.1f %.1f  lcm %.1f  | T=%d (1.2 max p)  T=%d (1.2 lcm)  "
                  "repeat-last error %.3f / %.3f\n", kSplitName[split], p.steps[0], p.steps[1], p.steps[2],
                  p.lcm_steps, s.marked_ctx[split][0], s.marked_ctx[split][1], s.repeat_last[split][0],
                  s.repeat_last[split][1]);
    o << buf;
  }
  o << "error = mean |prediction - truth| over 25 steps and 6 reals; mean (median) over sequences\n";
  o << "heads seed  train@1.2max     train@1.2lcm     val@1.2max       val@1.2lcm       purity  disentangled\n";
  for (const auto& r : s.runs) {
    std::snprintf(buf, sizeof buf, "%5d %4llu  %.4f (%.4f)  %.4f (%.4f)  %.4f (%.4f)  %.4f (%.4f)  %.3f   %s\n",
                  r.n_head, static_cast<unsigned long long>(r.seed), r.mean_err[0][0], r.median_err[0][0],
                  r.mean_err[0][1], r.median_err[0][1], r.mean_err[1][0], r.median_err[1][0], r.mean_err[1][1],
                  r.median_err[1][1], r.dis.min_purity, r.dis.disentangled ? "yes" : "no");
    o << buf;
  }
  std::snprintf(buf, sizeof buf, "3-head disentangled (min purity >= %.2f): %d of %d seeds\ntotal %.1f s\n",
                kDisentangledPurity, s.disentangled_3head, s.seeds_3head, s.seconds);
  o << buf;
  return o.str();
}

// Evaluates run r on both period sets: the full curve (figures 4-5) when `full`, else only the
// two marked context lengths. Fills r's errors and s.repeat_last; appends full curves to curve_csv.
void evaluate_run(const ExperimentConfig& cfg, const MoonsData& data, bool full, RunResult& r, ExperimentSummary& s,
                  std::ofstream& curve_csv) {
  const MoonsModelConfig mcfg{r.n_head, cfg.beta, 0.5};
  const auto seed = static_cast<unsigned long long>(r.seed);
  for (int split = 0; split < 2; ++split) {
    const std::vector<int> marked = {s.marked_ctx[split][0], s.marked_ctx[split][1]};
    const std::vector<int> ctx = full ? context_lengths(data, cfg.eval, marked) : marked;
    const auto te = Clock::now();
    ProgressLine progress("[three-moons] " + std::to_string(r.n_head) + "-head seed " + std::to_string(seed) +
                              "  evaluating " + kSplitName[split] + " periods",
                          "sequences");
    // Every run is evaluated on the same sequences: the evaluation stream of the first seed.
    const EvalCurve c = evaluate(mcfg, r.train.params.data(), data, split_set(data, split), cfg.eval, ctx, cfg.seed,
                                 [&](int done, int total) { progress(done, total); });
    std::fprintf(stderr, "[three-moons] %d-head seed %llu  evaluated %s periods at %zu context lengths  %.1fs\n",
                 r.n_head, seed, kSplitName[split], ctx.size(), since(te));
    for (int j = 0; j < 2; ++j) {
      r.mean_err[split][j] = c.at(marked[j]);
      r.median_err[split][j] = c.at(marked[j], true);
      for (size_t i = 0; i < c.ctx.size(); ++i)
        if (c.ctx[i] == marked[j]) s.repeat_last[split][j] = c.repeat_last[i];
    }
    if (full)
      for (size_t i = 0; i < c.ctx.size(); ++i)
        curve_csv << r.n_head << ',' << kSplitName[split] << ',' << c.ctx[i] << ',' << c.mean[i] << ','
                  << c.median[i] << ',' << c.repeat_last[i] << '\n';
  }
}

void write_runs(const std::string& dir, const ExperimentSummary& s) {
  auto mat_csv = open_csv(dir, "matrices.csv");
  mat_csv << "heads,seed,matrix,row,col,re,im,abs\n";
  auto seed_csv = open_csv(dir, "seeds.csv");
  seed_csv << "heads,seed,final_loss,train_seconds,moon_of_head,purity_phi,purity_psi,purity_z,min_purity,"
              "disentangled,split,ctx_1.2max,mean_err_1.2max,median_err_1.2max,ctx_1.2lcm,mean_err_1.2lcm,"
              "median_err_1.2lcm\n";
  for (const auto& r : s.runs) {
    write_matrices(mat_csv, r);
    for (int split = 0; split < 2; ++split)
      seed_csv << r.n_head << ',' << r.seed << ',' << r.train.loss.back() << ',' << r.train.seconds << ','
               << r.dis.moon_of_head[0] << r.dis.moon_of_head[1] << r.dis.moon_of_head[2] << ',' << r.dis.purity[0]
               << ',' << r.dis.purity[1] << ',' << r.dis.purity[2] << ',' << r.dis.min_purity << ','
               << (r.dis.disentangled ? 1 : 0) << ',' << kSplitName[split] << ',' << s.marked_ctx[split][0] << ','
               << r.mean_err[split][0] << ',' << r.median_err[split][0] << ',' << s.marked_ctx[split][1] << ','
               << r.mean_err[split][1] << ',' << r.median_err[split][1] << '\n';
  }
}

}  // namespace

ExperimentSummary run_three_moons(const ExperimentConfig& cfg) {
  MOSAIC_CHECK(cfg.seeds >= 1 && cfg.seeds_1head >= 1, "three moons: --seeds and --seeds-1head must be at least 1",
               "the acceptance run uses --seeds 5");
  MOSAIC_CHECK(cfg.eval.gen_steps >= 1 && cfg.eval.gen_steps < cfg.data.seq_len,
               "three moons: --gen-steps must be in [1, " + std::to_string(cfg.data.seq_len - 1) + "]",
               "the paper generates 25 steps");
  const auto t0 = Clock::now();
  std::error_code ec;
  std::filesystem::create_directories(cfg.out_dir, ec);
  MOSAIC_CHECK(!ec, "cannot create " + cfg.out_dir + ": " + ec.message(), "choose another --out folder");
  const MoonsData data(cfg.data);
  write_periods(cfg.out_dir, data);
  ExperimentSummary s;
  for (int split = 0; split < 2; ++split) {
    const PeriodSet& p = split_set(data, split);
    s.marked_ctx[split][0] = static_cast<int>(std::lround(1.2 * p.max_steps()));
    s.marked_ctx[split][1] = static_cast<int>(std::lround(1.2 * p.lcm_steps));
  }
  auto loss_csv = open_csv(cfg.out_dir, "loss.csv");
  loss_csv << "heads,seed,step,lr,loss\n";
  auto curve_csv = open_csv(cfg.out_dir, "error_vs_context.csv");
  curve_csv << "heads,split,ctx,mean_err,median_err,repeat_last\n";
  for (int n_head : {1, 3}) {
    for (int k = 0; k < (n_head == 1 ? cfg.seeds_1head : cfg.seeds); ++k) {
      RunResult r = train_one(cfg, data, n_head, cfg.seed + k);
      for (size_t i = 0; i < r.train.loss.size(); ++i)
        loss_csv << n_head << ',' << r.seed << ',' << i << ',' << r.train.lr[i] << ',' << r.train.loss[i] << '\n';
      evaluate_run(cfg, data, /*full=*/k == 0, r, s, curve_csv);
      if (n_head == 3) {
        s.seeds_3head++;
        s.disentangled_3head += r.dis.disentangled ? 1 : 0;
      }
      s.runs.push_back(std::move(r));
    }
  }
  write_runs(cfg.out_dir, s);
  s.seconds = since(t0);
  s.text = summary_text(cfg, data, s);
  std::ofstream(cfg.out_dir + "/summary.txt") << s.text;
  return s;
}

}  // namespace mosaic::three_moons
