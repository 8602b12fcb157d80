// Timing loops for the gemm ceiling and full training steps (forward, backward, AdamW).
#include "bench/throughput.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <fstream>
#include <string>

#include "core/buffer.hpp"
#include "core/error.hpp"
#include "core/resources.hpp"
#include "core/rng.hpp"
#include "kernels/fma_peak.hpp"
#include "kernels/gemm.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "models/language_model.hpp"
#include "train/adamw.hpp"
#include "train/train_config.hpp"

namespace mosaic {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

GemmResult time_gemm(int m, int n, int k, int repeats) {
  Buffer<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(k) * n), c(static_cast<size_t>(m) * n);
  Rng rng(1);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(rng.uniform());
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(rng.uniform());
  GemmResult r{m, n, k, 0};
  for (int i = 0; i < repeats + 1; ++i) {  // the first run warms caches and threads
    const auto t0 = Clock::now();
    gemm<float>(Op::N, Op::N, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    const double s = ms_since(t0) / 1000;
    if (i > 0) r.gflops = std::max(r.gflops, 2.0 * m * n * k / s / 1e9);
  }
  return r;
}

constexpr const char* kOptimizerPart = "AdamW + zero_grad";

// Linux: writing 5 to clear_refs resets the peak RSS (VmHWM), so that each configuration's
// peak is its own, not the gemm ceiling's or an earlier configuration's.
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmHWM:")) return std::stod(line.substr(6)) / 1024.0;  // in kB
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);  // no procfs: the process's peak
  return usage.ru_maxrss / 1024.0;
}

}  // namespace

std::vector<GemmResult> measure_gemm(int repeats) {
  std::vector<GemmResult> out;
  for (int s : {512, 1024, 2048}) out.push_back(time_gemm(s, s, s, repeats));
  out.push_back(time_gemm(2048, 50304, 128, std::max(1, repeats / 2)));  // the d128 model's vocabulary projection
  return out;
}

double gemm_ceiling(const std::vector<GemmResult>& results) {
  double best = 0;
  for (const auto& r : results) best = std::max(best, r.gflops);
  return best;
}

std::string Ceiling::source() const {
  return fma_gflops >= sgemm_gflops ? std::string("FMA peak, ") + simd_target_name(fma_target) : "OpenBLAS sgemm";
}

Ceiling ceiling_of(double sgemm_gflops, const std::vector<std::pair<SimdTarget, double>>& fma_peaks) {
  Ceiling c{sgemm_gflops, 0, SimdTarget::avx2};
  for (const auto& [target, gflops] : fma_peaks)
    if (gflops > c.fma_gflops) c.fma_gflops = gflops, c.fma_target = target;
  return c;
}

Ceiling measure_ceiling(int repeats) { return ceiling_of(gemm_ceiling(measure_gemm(repeats)), fma_peaks()); }

Ceiling best_of(const Ceiling& a, const Ceiling& b) {
  Ceiling c = a.fma_gflops >= b.fma_gflops ? a : b;
  c.sgemm_gflops = std::max(a.sgemm_gflops, b.sgemm_gflops);
  return c;
}

TrainBenchConfig train_bench_config(const std::string& name) {
  const std::string configs = find_resource("configs", nullptr, "configs", [](const std::string& dir) {
    return std::filesystem::is_regular_file(dir + "/bench_d128.json");
  });
  const std::string path = name.ends_with(".json") ? name : configs + "/bench_" + name + ".json";
  MOSAIC_CHECK(std::filesystem::is_regular_file(path), "unknown bench config '" + name + "' (no " + path + ")",
               "use d128, d256, d128-gpt, d256-gpt, or a .json file with model keys and batch_size");
  TrainConfig file;
  file.update_from_json(read_json_file(path), path);
  file.model.validate();
  return {name, file.model, file.batch_size};
}

TrainBenchResult measure_training(const TrainBenchConfig& config, int warmup_steps, int steps) {
  reset_peak_rss();
  auto model = make_model<float>(config.model);
  Rng rng(7);
  init_parameters(model->params(), config.model, rng);
  AdamW<float> optimizer(model->params(), AdamWConfig{});
  const int B = config.batch_size, T = config.model.block_size;
  std::vector<int32_t> idx(static_cast<size_t>(B) * T), targets(idx.size());
  const uint64_t words = std::min(config.model.vocab_size, 50257);  // GPT-2's, or the config's own (RegBench: 20)
  for (size_t i = 0; i < idx.size(); ++i) {
    idx[i] = static_cast<int32_t>(rng.below(words));
    targets[i] = static_cast<int32_t>(rng.below(words));
  }
  StepProfile profile;
  std::vector<double> total;
  for (int s = 0; s < warmup_steps + steps; ++s) {
    if (s == warmup_steps) model->set_profile(&profile);
    StepProfile* timed = s < warmup_steps ? nullptr : &profile;
    const auto t0 = Clock::now();
    {
      ProfileScope timer(timed, kOptimizerPart, true);
      model->params().zero_grad();
    }
    model->forward(idx.data(), targets.data(), B, T);
    model->backward(1.0f);
    {
      ProfileScope timer(timed, kOptimizerPart, true);
      optimizer.update(model->params(), 1e-4);
    }
    if (s >= warmup_steps) total.push_back(ms_since(t0));
  }
  TrainBenchResult r;
  r.parameters = model->params().count();
  r.median_ms = median(total);
  for (auto part : profile.parts()) {
    part.forward_ms /= steps;
    part.backward_ms /= steps;
    (part.name == kOptimizerPart ? r.optimizer_ms : r.forward_ms) += part.forward_ms;
    (part.name == kOptimizerPart ? r.optimizer_ms : r.backward_ms) += part.backward_ms;
    r.parts.push_back(part);
  }
  r.tokens_per_s = B * T / (r.median_ms / 1000);
  const auto& m = config.model;
  r.flops_per_token = 6.0 * r.parameters + 12.0 * m.n_layer * m.n_embd * T;
  r.gflops = r.flops_per_token * r.tokens_per_s / 1e9;
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

}  // namespace mosaic
