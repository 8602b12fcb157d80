// Measurements behind `mosaic bench gemm` and `mosaic bench train`: the machine's sgemm
// ceiling and the training throughput of a model config, both measured in the same process
// so that one can be expressed as a fraction of the other. Not timed tests: nothing asserts.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "core/step_profile.hpp"
#include "kernels/cpu_target.hpp"
#include "models/config.hpp"

namespace mosaic {

struct GemmResult {
  int m = 0, n = 0, k = 0;
  double gflops = 0;  // best of the repeats
};

// sgemm GFLOP/s on square and model-shaped problems; the sgemm ceiling is the best of them.
std::vector<GemmResult> measure_gemm(int repeats);
double gemm_ceiling(const std::vector<GemmResult>& results);

// What training fractions are read against: the higher of OpenBLAS's best sgemm and the FMA
// peak at the best of the CPU's vector widths (kernels/fma_peak.hpp), and which one it was.
struct Ceiling {
  double sgemm_gflops = 0, fma_gflops = 0;
  SimdTarget fma_target = SimdTarget::avx2;  // the width that peaked highest
  double gflops() const { return std::max(sgemm_gflops, fma_gflops); }
  std::string source() const;  // e.g. "FMA peak, avx512" or "OpenBLAS sgemm"
};
Ceiling measure_ceiling(int repeats);
// sgemm and the peaks measured, as a Ceiling.
Ceiling ceiling_of(double sgemm_gflops, const std::vector<std::pair<SimdTarget, double>>& fma_peaks);
Ceiling best_of(const Ceiling& a, const Ceiling& b);

struct TrainBenchConfig {
  std::string name;
  ModelConfig model;
  int batch_size = 8;
};

// A named configuration, configs/bench_NAME.json ("d128": d=128, 4 layers, 4 heads, T=256,
// batch 8; "d256": d=256, 6 layers, 8 heads, T=512, batch 4; "-gpt": the GPT baseline at the
// same sizes), or any .json file with model keys and batch_size.
TrainBenchConfig train_bench_config(const std::string& name);

struct TrainBenchResult {
  double median_ms = 0;                                   // whole steps, median
  double forward_ms = 0, backward_ms = 0, optimizer_ms = 0;  // means per step, from the parts
  std::vector<StepProfile::Part> parts;                   // per layer kind, mean ms per step
  double tokens_per_s = 0;
  double flops_per_token = 0;  // 6 N + 12 L C T, the reference's estimate
  double gflops = 0;
  double peak_rss_mb = 0;      // of this configuration alone (the high-water mark is reset first)
  size_t parameters = 0;
};

TrainBenchResult measure_training(const TrainBenchConfig& config, int warmup_steps, int steps);

}  // namespace mosaic
