// Three moons (paper section 3): data invariants, the model's forward against a naive
// std::complex reference, float64 finite-difference gradients for every parameter (and a
// deliberately wrong gradient that must fail), a tiny training run, the evaluation's rollout
// against a full recompute, and the CLI's --quick run. Seconds in total.
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "experiments/three_moons/data.hpp"
#include "experiments/three_moons/disentangle.hpp"
#include "experiments/three_moons/evaluate.hpp"
#include "experiments/three_moons/kernels.hpp"
#include "experiments/three_moons/model.hpp"
#include "experiments/three_moons/train.hpp"
#include "gradcheck.hpp"
#include "temp_dir.hpp"

namespace mosaic::three_moons {
namespace {

using cd = std::complex<double>;
constexpr double kPi = 3.141592653589793;

// ---- data -------------------------------------------------------------------------------

TEST(ThreeMoonsData, PeriodTableIsTheReferenceSelection) {
  const MoonsData data;
  std::vector<PeriodSet> chosen = data.train_sets();
  chosen.push_back(data.val_set());
  ASSERT_EQ(chosen.size(), 9u);
  double max_chosen = 0;
  std::set<std::array<double, 3>> chosen_ratios;
  for (const auto& s : chosen) {
    max_chosen = std::max(max_chosen, s.lcm_ratio);
    chosen_ratios.insert(s.ratio);
  }
  EXPECT_EQ(chosen_ratios.size(), 9u);
  // The nine are smallest-lcm candidates: nothing left out has a smaller full period.
  int below = 0;
  for (const auto& c : candidate_triples()) {
    const double l = lcm_tenths(lcm_tenths(c[0], c[1]), c[2]);
    if (!chosen_ratios.count(c)) {
      EXPECT_GE(l, max_chosen);
    }
    below += l < max_chosen;
  }
  EXPECT_EQ(candidate_triples().size(), 35u);
  EXPECT_LE(below, 9);
  EXPECT_EQ(data.val_set().ratio, (std::array<double, 3>{1.0, 2.0, 3.0}));
  EXPECT_EQ(data.train_eval_set().ratio, (std::array<double, 3>{0.5, 1.0, 2.5}));
  EXPECT_DOUBLE_EQ(lcm_tenths(1.5, 2.5), 7.5);
}

TEST(ThreeMoonsData, TrainAndValidationPeriodsAreDisjoint) {
  const MoonsData data;
  for (const auto& s : data.train_sets()) EXPECT_NE(s.ratio, data.val_set().ratio);
}

TEST(ThreeMoonsData, EverySequenceCoversThreeFullPeriods) {
  for (int L : {800, 200}) {
    DataConfig cfg;
    cfg.seq_len = L;
    const MoonsData data(cfg);
    std::vector<PeriodSet> all = data.train_sets();
    all.push_back(data.val_set());
    for (const auto& s : all) {
      EXPECT_GE(L / s.lcm_steps, 3.0 - 1e-9) << "lcm " << s.lcm_steps;
      for (int k = 0; k < 3; ++k) EXPECT_NEAR(s.steps[k], s.ratio[k] * data.steps_per_unit(), 1e-9);
    }
    EXPECT_NEAR(L / data.val_set().lcm_steps, 3.0, 1e-9);  // the longest full period fits exactly 3 times
  }
}

TEST(ThreeMoonsData, UnitModulusAndConstantAngularSpeed) {
  const MoonsData data;
  std::vector<double> seq(801 * 6);
  for (const PeriodSet* s : {&data.val_set(), &data.train_sets()[0]}) {
    data.fill(*s, 1234, seq.data());
    for (int t = 0; t < 801; ++t)
      for (int k = 0; k < 3; ++k) {
        const cd z(seq[6 * t + 2 * k], seq[6 * t + 2 * k + 1]);
        EXPECT_NEAR(std::abs(z), 1.0, 1e-12);
        if (t + 1 < 801) {  // each moon turns by 2 pi / period per step
          const cd next(seq[6 * (t + 1) + 2 * k], seq[6 * (t + 1) + 2 * k + 1]);
          EXPECT_NEAR(std::abs(next / z - std::polar(1.0, 2 * kPi / s->steps[k])), 0.0, 1e-9);
        }
      }
  }
}

TEST(ThreeMoonsData, DeterministicFromSeed) {
  const MoonsData data;
  auto draw = [&](uint64_t seed) {
    Rng rng = data_stream(seed);
    std::vector<int64_t> out;
    for (int i = 0; i < 16; ++i) {
      out.push_back(data.sample_train_index(rng));
      out.push_back(data.sample_start(rng));
    }
    return out;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
  for (int64_t v : draw(3)) EXPECT_GE(v, 0);
  std::vector<float> a(801 * 6), b(801 * 6);
  data.fill(data.val_set(), 99, a.data());
  data.fill(data.val_set(), 99, b.data());
  EXPECT_EQ(a, b);
}

// ---- model ------------------------------------------------------------------------------

// Naive eq. (6) with std::complex: returns the outputs o_t for inputs z_0..z_{n-1}.
std::vector<std::array<cd, 3>> naive_outputs(const double* p, int H, double beta,
                                             const std::vector<std::array<cd, 3>>& z) {
  auto W = [&](int m, int i, int j) { return cd(p[m * 18 + (i * 3 + j) * 2], p[m * 18 + (i * 3 + j) * 2 + 1]); };
  auto apply = [&](int m, const std::array<cd, 3>& x) {
    std::array<cd, 3> y{};
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) y[i] += W(m, i, j) * x[j];
    return y;
  };
  const int n = static_cast<int>(z.size()), hd = 3 / H;
  std::vector<std::array<cd, 3>> k(n), v(n), out(n);
  for (int t = 0; t < n; ++t) {
    k[t] = apply(kPhi, z[t]);
    if (t + 1 < n) v[t] = apply(kPsi, z[t + 1]);  // else the value stays 0
  }
  for (int t = 0; t < n; ++t) {
    std::array<cd, 3> y{};
    for (int h = 0; h < H && t > 0; ++h) {
      std::vector<double> s(t);
      for (int j = 0; j < t; ++j)
        for (int c = h * hd; c < (h + 1) * hd; ++c) s[j] += beta * std::real(std::conj(k[t][c]) * k[j][c]);
      const double m = *std::max_element(s.begin(), s.end());
      double zsum = 0;
      for (double& x : s) zsum += (x = std::exp(x - m));
      for (int j = 0; j < t; ++j)
        for (int c = h * hd; c < (h + 1) * hd; ++c) y[c] += s[j] / zsum * v[j][c];
    }
    out[t] = apply(kZ, y);
  }
  return out;
}

std::vector<std::array<cd, 3>> to_complex(const double* seq, int n) {
  std::vector<std::array<cd, 3>> z(n);
  for (int t = 0; t < n; ++t)
    for (int k = 0; k < 3; ++k) z[t][k] = cd(seq[6 * t + 2 * k], seq[6 * t + 2 * k + 1]);
  return z;
}

struct Fixture {
  static constexpr int T = 24;
  std::vector<double> seq = std::vector<double>(801 * 6);
  std::array<double, kParamCount> params{};
  Fixture() {
    const MoonsData data;
    data.fill(data.train_sets()[2], 2024, seq.data());
    Rng rng(5);
    init_params(rng, params.data());
    for (double& w : params) w *= 2.0;  // sharper attention than at init: exercises the softmax
  }
};

TEST(ThreeMoonsModel, ForwardMatchesNaiveComplexReference) {
  Fixture f;
  for (int H : {1, 3}) {
    const MoonsModelConfig cfg{H, 50.0, 0.5};
    const auto z = to_complex(f.seq.data(), f.T + 1);
    const auto o = naive_outputs(f.params.data(), H, cfg.beta, {z.begin(), z.begin() + f.T});
    double ref = 0;
    for (int t = 0; t < f.T; ++t)
      for (int k = 0; k < 3; ++k) {
        const cd d = o[t][k] - z[t + 1][k];
        for (double x : {d.real(), d.imag()}) ref += std::pow(std::clamp(x, -0.5, 0.5), 2);
      }
    Workspace<double> ws;
    EXPECT_NEAR(sequence_loss(cfg, f.params.data(), f.seq.data(), f.T, ws, (double*)nullptr, 1.0), ref, 1e-12 * ref)
        << "heads " << H;
  }
}

// Runs the shared float64 checker (tests/gradcheck.hpp) on the 54 parameters, one target per
// matrix. `corrupt` may damage the analytic gradient, to show that the check catches it.
testing::GradCheckResult check_gradients(int H, const std::function<void(double*)>& corrupt = {}) {
  Fixture f;
  const MoonsModelConfig cfg{H, 50.0, 0.5};
  // Precondition: no output sits within 1e-3 of the clipping kink, where the loss is not smooth.
  const auto z = to_complex(f.seq.data(), f.T + 1);
  const auto o = naive_outputs(f.params.data(), H, cfg.beta, {z.begin(), z.begin() + f.T});
  int clipped = 0;
  for (int t = 0; t < f.T; ++t)
    for (int k = 0; k < 3; ++k) {
      const cd d = o[t][k] - z[t + 1][k];
      for (double x : {d.real(), d.imag()}) {
        EXPECT_GT(std::abs(std::abs(x) - cfg.clip), 1e-3);
        clipped += std::abs(x) > cfg.clip;
      }
    }
  EXPECT_GT(clipped, 0);          // both regimes of the clipped loss are exercised
  EXPECT_LT(clipped, f.T * 6);
  Workspace<double> ws;
  std::array<double, kParamCount> grad{};
  auto loss = [&] { return sequence_loss(cfg, f.params.data(), f.seq.data(), f.T, ws, (double*)nullptr, 1.0); };
  auto backward = [&] {
    grad.fill(0);
    sequence_loss(cfg, f.params.data(), f.seq.data(), f.T, ws, grad.data(), 1.0);
    if (corrupt) corrupt(grad.data());
  };
  std::vector<testing::GradTarget> targets;
  for (int m = 0; m < 3; ++m)
    targets.push_back({matrix_name(m), f.params.data() + m * kMatrixReals, grad.data() + m * kMatrixReals,
                       static_cast<size_t>(kMatrixReals)});
  return testing::gradcheck(loss, backward, targets, kMatrixReals);
}

TEST(ThreeMoonsModel, GradientsMatchFiniteDifferences) {
  for (int H : {1, 3}) {
    const auto r = check_gradients(H);
    EXPECT_EQ(r.checked, static_cast<size_t>(kParamCount));
    EXPECT_LT(r.worst_error, testing::kGradTolerance) << H << " heads, worst at " << r.worst_where;
    std::printf("[ three moons ] %d heads: worst relative gradient error %.2e over %zu parameters\n", H,
                r.worst_error, r.checked);
  }
}

TEST(ThreeMoonsModel, WrongGradientIsCaught) {
  // A 1% error on one entry of W_psi's gradient, and (a typical complex-arithmetic slip) the
  // signs of the imaginary parts of W_phi's gradient flipped: both must fail the check.
  const auto r = check_gradients(3, [](double* g) { g[kPsi * kMatrixReals + 7] *= 1.01; });
  EXPECT_GT(r.worst_error, 100 * testing::kGradTolerance) << r.worst_where;
  std::printf("[ three moons ] corrupted gradients: worst errors %.2e and", r.worst_error);
  const auto r2 = check_gradients(1, [](double* g) {
    for (int i = 1; i < kMatrixReals; i += 2) g[kPhi * kMatrixReals + i] = -g[kPhi * kMatrixReals + i];
  });
  EXPECT_GT(r2.worst_error, 100 * testing::kGradTolerance) << r2.worst_where;
  std::printf(" %.2e (tolerance %.0e)\n", r2.worst_error, testing::kGradTolerance);
}

TEST(ThreeMoonsModel, FloatMatchesDouble) {
  Fixture f;
  const int T = 800;  // a full sequence: long softmax rows, the float exp polynomial
  std::vector<float> seqf(f.seq.begin(), f.seq.end());
  std::array<float, kParamCount> pf{};
  for (int i = 0; i < kParamCount; ++i) pf[i] = static_cast<float>(f.params[i]);
  std::array<double, kParamCount> gd{};
  std::array<float, kParamCount> gf{};
  for (int H : {1, 3}) {
    const MoonsModelConfig cfg{H, 50.0, 0.5};
    Workspace<double> wd;
    Workspace<float> wf;
    gd.fill(0);
    gf.fill(0);
    const double ld = sequence_loss(cfg, f.params.data(), f.seq.data(), T, wd, gd.data(), 1.0 / T);
    const double lf = sequence_loss(cfg, pf.data(), seqf.data(), T, wf, gf.data(), 1.0 / T);
    EXPECT_NEAR(lf, ld, 1e-4 * ld);
    double gmax = 0;
    for (double g : gd) gmax = std::max(gmax, std::abs(g));
    for (int i = 0; i < kParamCount; ++i) EXPECT_NEAR(gf[i], gd[i], 1e-3 * gmax) << "param " << i;
  }
}

TEST(ThreeMoonsKernels, ExpApproxIsAccurate) {
  double worst = 0;
  for (float x = -87.0f; x <= 0.0f; x += 0.01234f) {
    const double e = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(exp_approx(x) - e) / e);
  }
  EXPECT_LT(worst, 2e-7);
  EXPECT_EQ(exp_approx(0.0f), 1.0f);
  EXPECT_EQ(exp_approx(-90.0f), 0.0f);
  EXPECT_EQ(exp_approx(-1e30f), 0.0f);
}

// ---- training, evaluation, disentanglement ------------------------------------------------

TEST(ThreeMoonsTrain, LossDecreasesAndIsThreadCountIndependent) {
  const MoonsData data;
  const MoonsModelConfig mcfg{3, 50.0, 0.5};
  TrainConfig tcfg;
  tcfg.iters = 30;
  tcfg.batch = 6;
  tcfg.seed = 11;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  const TrainResult a = train_model(mcfg, tcfg, data);
  omp_set_num_threads(1);
  const TrainResult b = train_model(mcfg, tcfg, data);
  omp_set_num_threads(saved);
  EXPECT_EQ(a.params, b.params);
  double last = 0;
  for (int i = 25; i < 30; ++i) last += a.loss[i] / 5;
  EXPECT_LT(last, 0.6 * a.loss[0]) << "first " << a.loss[0] << " last " << last;
  EXPECT_NEAR(a.lr[0], 1e-2, 1e-12);
  EXPECT_NEAR(learning_rate(tcfg, 30), 5e-6, 1e-12);
}

TEST(ThreeMoonsTrain, AdamHasNoBiasCorrection) {  // MLX 0.9, as the reference used
  TrainConfig cfg;
  MlxAdamW opt;
  std::array<float, kParamCount> p{};
  std::array<double, kParamCount> g{};
  g.fill(0.5);
  opt.step(cfg, 0.01, g.data(), p.data());
  // m = 0.05, v = 0.00025: the first step is lr * 0.05 / 0.0158 = 3.16 lr, not lr.
  EXPECT_NEAR(p[0], -0.01 * 0.05 / (std::sqrt(0.00025) + 1e-8), 1e-7);
}

TEST(ThreeMoonsEval, RolloutMatchesFullRecompute) {
  const MoonsData data;
  Fixture f;
  std::array<float, kParamCount> pf{};
  for (int i = 0; i < kParamCount; ++i) pf[i] = static_cast<float>(f.params[i]);
  EvalConfig ecfg;
  ecfg.n_seqs = 1;
  ecfg.gen_steps = 5;
  const std::vector<int> ctx = {1, 2, 40, 130};
  for (int H : {1, 3}) {
    const MoonsModelConfig mcfg{H, 50.0, 0.5};
    const EvalCurve c = evaluate(mcfg, pf.data(), data, data.val_set(), ecfg, ctx, 77);
    Rng rng = eval_stream(77);  // the same single sequence
    std::vector<double> seq(801 * 6);
    data.fill(data.val_set(), data.sample_start(rng), seq.data());
    std::vector<double> p(pf.begin(), pf.end());
    const auto truth = to_complex(seq.data(), 801);
    for (size_t k = 0; k < ctx.size(); ++k) {
      std::vector<std::array<cd, 3>> z(truth.begin(), truth.begin() + ctx[k]);
      double err = 0, rep = 0;
      for (int i = 0; i < ecfg.gen_steps; ++i) {  // feed every prediction back, recompute everything
        const auto pred = naive_outputs(p.data(), H, 50.0, z).back();
        for (int m = 0; m < 3; ++m) {
          const cd d = pred[m] - truth[ctx[k] + i][m], r = truth[ctx[k] - 1][m] - truth[ctx[k] + i][m];
          err += std::abs(d.real()) + std::abs(d.imag());
          rep += std::abs(r.real()) + std::abs(r.imag());
        }
        z.push_back(pred);
      }
      EXPECT_NEAR(c.mean[k], err / (6 * ecfg.gen_steps), 1e-4) << H << " heads, T " << ctx[k];
      EXPECT_NEAR(c.repeat_last[k], rep / (6 * ecfg.gen_steps), 1e-6);
    }
  }
}

TEST(ThreeMoonsDisentangle, PermutedDiagonalIsDisentangledAndDenseIsNot) {
  std::array<float, kParamCount> p{};
  const int moon_of_head[3] = {2, 0, 1};
  for (int h = 0; h < 3; ++h) {
    const int m = moon_of_head[h];
    p[kPhi * kMatrixReals + (h * 3 + m) * 2] = 2.0f;        // head h keys on moon m
    p[kPsi * kMatrixReals + (h * 3 + m) * 2 + 1] = 0.5f;    // and remembers it (any phase)
    p[kZ * kMatrixReals + (m * 3 + h) * 2] = 2.0f;          // and writes it back
    p[kPhi * kMatrixReals + (h * 3 + (m + 1) % 3) * 2] = 0.1f;  // a little leakage
  }
  const Disentanglement d = measure_disentanglement(p.data());
  EXPECT_TRUE(d.disentangled);
  EXPECT_EQ(d.moon_of_head, (std::array<int, 3>{2, 0, 1}));
  EXPECT_NEAR(d.purity[kPhi], 4.0 / 4.01, 1e-6);
  Rng rng(3);
  init_params(rng, p.data());
  EXPECT_FALSE(measure_disentanglement(p.data()).disentangled);
}

// ---- the command ----------------------------------------------------------------------------

#ifdef MOSAIC_BINARY
TEST(ThreeMoonsCli, QuickRunWritesTheCsvs) {
  const std::string bin = MOSAIC_BINARY;
  if (std::system((bin + " three-moons --help >/dev/null 2>&1").c_str()) != 0)
    GTEST_SKIP() << "this mosaic binary has no three-moons subcommand";
  const testing::TempDir tmp("three_moons");
  const auto dir = tmp.path;
  const std::string cmd = bin + " three-moons --quick --no-plot --seeds 1 --iters 10 -t 2 --out " + dir.string() +
                          " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (const char* f : {"periods.csv", "loss.csv", "error_vs_context.csv", "matrices.csv", "seeds.csv", "summary.txt"})
    EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;
}
#endif

}  // namespace
}  // namespace mosaic::three_moons
