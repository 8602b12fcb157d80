// The JSON records that `mosaic bench <what> --json` writes: what ran (the machine's facts) and
// every figure of the result. Not the measurements (generation.hpp, throughput.hpp,
// reference.hpp) and not the printed tables (cli/cmd_bench.cpp).
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bench/generation.hpp"
#include "bench/reference.hpp"
#include "bench/throughput.hpp"
#include "kernels/cpu_target.hpp"

namespace mosaic {

// What ran, for every figure a benchmark prints: the CPU, the threads, the vector width of our
// kernels (kernels/cpu_target.hpp) and the kernels OpenBLAS picked.
nlohmann::json machine_facts();

// `bench gemm`: the machine's facts, every problem's sgemm GFLOP/s, the FMA peak at each vector
// width the CPU has, and the ceiling with its source.
nlohmann::json gemm_report(const std::vector<GemmResult>& results, const std::vector<std::pair<SimdTarget, double>>& fma_peaks,
                           const Ceiling& ceiling);

// `bench train`: one config's run, with the official code's beside it when it was timed.
struct TrainBenchRun {
  std::string config;
  TrainBenchResult result;
  std::optional<ReferenceResult> reference;
};
// ceiling: the sgemm ceiling the fractions are read against (the best of the measurements
// before and after the runs); ceiling_before: the one before.
nlohmann::json train_report(const std::vector<TrainBenchRun>& runs, const Ceiling& ceiling, double ceiling_before);

// `bench generate`: models is the description printed above the table.
nlohmann::json generation_report(const GenerateBenchResult& result, const GenerateBenchConfig& config,
                                 const std::string& models);

}  // namespace mosaic
