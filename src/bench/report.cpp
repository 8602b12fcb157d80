// JSON records of the benchmarks: the same fields `mosaic bench` has always written.
#include "bench/report.hpp"

#include <omp.h>

#include <nlohmann/json.hpp>

#include "kernels/cpu_target.hpp"
#include "kernels/gemm.hpp"

namespace mosaic {

nlohmann::json machine_facts() {
  return {{"cpu", cpu_model_name()},
          {"threads", omp_get_max_threads()},
          {"simd_target", simd_target_name(simd_target())},
          {"blas_core", blas_core_name()}};
}

nlohmann::json gemm_report(const std::vector<GemmResult>& results, const std::vector<std::pair<SimdTarget, double>>& fma_peaks,
                           const Ceiling& ceiling) {
  nlohmann::json j = machine_facts();
  j["sgemm_ceiling_gflops"] = gemm_ceiling(results);
  for (const auto& [target, gflops] : fma_peaks) j["fma_peak_gflops"][simd_target_name(target)] = gflops;
  j["ceiling_gflops"] = ceiling.gflops();
  j["ceiling_source"] = ceiling.source();
  for (const auto& r : results) j["gemm"].push_back({{"m", r.m}, {"n", r.n}, {"k", r.k}, {"gflops", r.gflops}});
  return j;
}

namespace {

nlohmann::json run_json(const TrainBenchRun& run, double ceiling) {
  const TrainBenchResult& r = run.result;
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& p : r.parts) parts.push_back({{"part", p.name}, {"forward_ms", p.forward_ms}, {"backward_ms", p.backward_ms}});
  nlohmann::json j = {{"config", run.config}, {"parameters", r.parameters}, {"step_ms", r.median_ms},
                      {"forward_ms", r.forward_ms}, {"backward_ms", r.backward_ms}, {"adamw_ms", r.optimizer_ms},
                      {"tokens_per_s", r.tokens_per_s}, {"flops_per_token", r.flops_per_token},
                      {"gflops", r.gflops}, {"fraction_of_ceiling", r.gflops / ceiling},
                      {"peak_rss_mb", r.peak_rss_mb}, {"parts", parts}};
  if (run.reference) {
    const ReferenceResult& ref = *run.reference;
    const double ref_gflops = r.flops_per_token * ref.tokens_per_s / 1e9;
    j["reference"] = {{"tokens_per_s", ref.tokens_per_s}, {"step_ms", ref.median_ms},
                      {"fraction_of_ceiling", ref_gflops / ceiling},
                      {"peak_rss_mb", ref.peak_rss_mb}, {"torch_version", ref.torch_version},
                      {"blas", ref.blas}, {"speedup", r.tokens_per_s / ref.tokens_per_s}};
  }
  return j;
}

}  // namespace

nlohmann::json train_report(const std::vector<TrainBenchRun>& runs, const Ceiling& ceiling, double ceiling_before) {
  nlohmann::json j = machine_facts();
  j["ceiling_gflops"] = ceiling.gflops();
  j["ceiling_source"] = ceiling.source();
  j["sgemm_ceiling_gflops"] = ceiling.sgemm_gflops;
  j["fma_peak_gflops"] = ceiling.fma_gflops;
  j["ceiling_gflops_before"] = ceiling_before;
  for (const auto& run : runs) j["runs"].push_back(run_json(run, ceiling.gflops()));
  return j;
}

nlohmann::json generation_report(const GenerateBenchResult& result, const GenerateBenchConfig& config,
                                 const std::string& models) {
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& p : result.paths)
    paths.push_back({{"name", p.name}, {"note", p.note}, {"tokens_per_s", p.tokens_per_s},
                     {"prompt_tokens_per_s", p.prompt_tokens_per_s}});
  nlohmann::json j = machine_facts();
  j.update({{"bench", "generate"},
            {"models", models},
            {"tokens_per_measurement", config.tokens},
            {"recompute_tokens_per_measurement", config.recompute_tokens},
            {"contexts", result.contexts},
            {"paths", paths}});
  return j;
}

}  // namespace mosaic
