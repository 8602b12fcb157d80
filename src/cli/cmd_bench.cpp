// `mosaic bench <what>`: performance measurements, printed as a table (and JSON with --json).
// Benchmarks, not tests: nothing asserts on time. One add_*_bench function per subcommand
// below; `generate` is tokens/s against context length (bench/generation.hpp), or with --pairs
// against prefilled memories of N pairs per head, exact and approximate (bench/long_memory.hpp);
// `retrieval` compares approximate retrieval with exact on real text. gemm and train
// (bench/throughput.hpp) go next to it as add_gemm_bench / add_train_bench. The JSON records
// are built in bench/report.hpp.
#include <CLI/CLI.hpp>

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/generation.hpp"
#include "bench/long_memory.hpp"
#include "bench/reference.hpp"
#include "bench/report.hpp"
#include "bench/throughput.hpp"
#include "kernels/threads.hpp"
#include "cli/commands.hpp"
#include "cli/memory_flags.hpp"
#include "eval/lm_eval.hpp"
#include "text/gpt2_tokenizer.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/atomic_file.hpp"
#include "io/model_io.hpp"
#include "kernels/fma_peak.hpp"
#include "kernels/gemm.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"

namespace mosaic {

namespace {

void print_machine_line() {
  const auto m = machine_facts();
  std::printf("cpu: %s, %d threads; our kernels: %s; OpenBLAS kernels: %s\n", m["cpu"].get<std::string>().c_str(),
              m["threads"].get<int>(), m["simd_target"].get<std::string>().c_str(),
              m["blas_core"].get<std::string>().c_str());
}

struct GenerateBenchOptions {
  std::string config = "d128", mosaic_model, gpt_model, json, evict = "oldest";
  GenerateBenchConfig bench;
  uint64_t seed = 7;
  std::vector<int64_t> pairs;                           // --pairs: the long-memory path
  std::vector<std::string> backends{"exact", "approx"};  // its columns
  RetrievalOptions approx;
};

// A random model of the named bench config; the GPT's window covers the longest measurement
// so that its column shows the KV cache, not the sliding window.
std::unique_ptr<LanguageModel<float>> random_model(const std::string& name, uint64_t seed, int min_block) {
  ModelConfig c = train_bench_config(name).model;
  c.block_size = std::max(c.block_size, min_block);
  auto m = make_model<float>(c);
  Rng rng(seed);
  init_parameters(m->params(), c, rng);
  return m;
}

std::string model_line(const char* label, const LanguageModel<float>* m, const std::string& source) {
  if (!m) return "";
  const ModelConfig& c = m->config();
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s %s: %.2fM parameters, d=%d, %d layers, %d heads, vocab %d, block_size %d\n", label,
                source.c_str(), m->params().count() / 1e6, c.n_embd, c.n_layer, c.n_head, c.vocab_size, c.block_size);
  return buf;
}

using Column = std::vector<double> GeneratePath::*;

void print_row(const GenerateBenchResult& r, size_t i, Column column, const char* unit) {
  if (i == 0) {
    std::printf("%8s", "context");
    for (const auto& p : r.paths) std::printf("  %22s", p.name.c_str());
    std::printf("   (%s)\n", unit);
  }
  std::printf("%8d", r.contexts[i]);
  for (const auto& p : r.paths)
    (p.*column)[i] > 0 ? std::printf("  %22.1f", (p.*column)[i]) : std::printf("  %22s", "-");
  std::printf("\n");
  std::fflush(stdout);
}

struct BenchModels {
  std::unique_ptr<LanguageModel<float>> mosaic, gpt;
};

// The checkpoints named on the command line, else a random mosaic and GPT of the named size (the
// mosaic alone for --pairs, which times memories).
BenchModels bench_models(const GenerateBenchOptions& o) {
  BenchModels m;
  if (o.mosaic_model.empty() && o.gpt_model.empty()) {
    const auto& contexts = o.bench.contexts;
    const int longest = *std::max_element(contexts.begin(), contexts.end()) + o.bench.tokens + 1;
    m.mosaic = random_model(o.config, o.seed, 0);
    if (o.pairs.empty()) m.gpt = random_model(o.config + "-gpt", o.seed, longest);
    return m;
  }
  if (!o.mosaic_model.empty()) m.mosaic = load_model(resolve_model_path(o.mosaic_model));
  if (!o.gpt_model.empty()) m.gpt = load_model(resolve_model_path(o.gpt_model));
  MOSAIC_CHECK(!m.mosaic || m.mosaic->config().arch == "mosaic", "--mosaic-model is not a Memory Mosaic", "pass it as --gpt-model");
  MOSAIC_CHECK(!m.gpt || m.gpt->config().arch == "gpt", "--gpt-model is not a GPT", "pass it as --mosaic-model");
  return m;
}

void write_json_file(const std::string& path, const nlohmann::json& j) {
  const std::string text = j.dump(2) + "\n";
  write_file_atomically(path, std::string_view(text));
  std::printf("wrote %s\n", path.c_str());
}

// `bench generate --pairs`: tokens/s and resident bytes per pair with prefilled memories.
void run_long_memory_speed(const GenerateBenchOptions& o, const LanguageModel<float>& mosaic, const std::string& models) {
  LongMemorySpeedConfig config;
  config.pairs = o.pairs;
  config.tokens = o.bench.tokens;
  config.threads = o.bench.threads;
  for (const auto& name : o.backends) {
    RetrievalOptions r = o.approx;
    r.backend = parse_memory_backend(name);
    config.backends.push_back(r);
  }
  std::printf("%sthreads %d, every unbounded memory head prefilled with `pairs` random pairs, then a random prompt of 64 "
              "tokens and %d greedy tokens timed\n",
              models.c_str(), o.bench.threads > 0 ? o.bench.threads : omp_get_max_threads(), o.bench.tokens);
  for (const auto& r : config.backends) std::printf("  %s\n", describe_retrieval(r).c_str());
  std::printf("%10s", "pairs");
  for (const auto& name : o.backends) std::printf("  %12s %14s %10s", (name + " tok/s").c_str(), "MB/M pairs", "prefill s");
  std::printf("\n");
  nlohmann::json rows = nlohmann::json::array();
  measure_long_memory_speed(config, mosaic, [&](const LongMemorySpeedRow& row) {
    std::printf("%10lld", static_cast<long long>(row.pairs));
    nlohmann::json cells = nlohmann::json::array();
    for (size_t i = 0; i < row.cells.size(); ++i) {
      const auto& c = row.cells[i];
      std::printf("  %12.1f %14.0f %10.1f", c.tokens_per_s, c.bytes_per_pair, c.prefill_s);
      cells.push_back({{"backend", o.backends[i]}, {"tokens_per_s", c.tokens_per_s}, {"bytes_per_pair", c.bytes_per_pair},
                       {"prefill_s", c.prefill_s}});
    }
    std::printf("\n");
    std::fflush(stdout);
    rows.push_back({{"pairs", row.pairs}, {"cells", cells}});
  });
  if (o.json.empty()) return;
  nlohmann::json j = machine_facts();
  nlohmann::json backends = nlohmann::json::array();
  for (const auto& r : config.backends) backends.push_back(describe_retrieval(r));
  j.update({{"bench", "generate --pairs"}, {"models", models}, {"tokens_per_measurement", o.bench.tokens},
            {"backends", backends}, {"rows", rows}});
  write_json_file(o.json, j);
}

void add_generate_bench(CLI::App& bench) {
  auto o = std::make_shared<GenerateBenchOptions>();
  auto* cmd = bench.add_subcommand("generate", "generated tokens/s against context length, per inference path");
  cmd->add_option("--config", o->config, "random models of this size: d128 (default), d256 (configs/bench_NAME.json and bench_NAME-gpt.json)");
  cmd->add_option("--mosaic-model", o->mosaic_model, "a Memory Mosaic checkpoint instead of a random one");
  cmd->add_option("--gpt-model", o->gpt_model, "a GPT checkpoint instead of a random one");
  cmd->add_option("--contexts", o->bench.contexts, "context lengths, comma-separated")->delimiter(',');
  cmd->add_option("--tokens", o->bench.tokens, "tokens generated per streaming measurement")->check(CLI::PositiveNumber);
  cmd->add_option("--recompute-tokens", o->bench.recompute_tokens, "tokens per full-recompute measurement")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--recompute-max", o->bench.recompute_max, "longest context for full recomputation (0 = skip it)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--mem-limit", o->bench.limit.max_pairs, "pairs per head for the bounded mosaic column")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--evict", o->evict, "eviction policy of the bounded column: oldest | lru");
  cmd->add_option("--batch", o->bench.batch,
                  "also N mosaic streams together, one vocabulary product per step (tokens/s in all and per stream)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--lru-threshold", o->bench.limit.lru_threshold, "attention weight that counts as a use (lru)");
  cmd->add_option("-t,--threads", o->bench.threads, "threads (default: the cores other processes leave free, checked every step)");
  cmd->add_option("--json", o->json, "also write the results to this JSON file");
  cmd->add_option("-s,--seed", o->seed, "seed of the random models");
  cmd->add_option("--pairs", o->pairs,
                  "instead of --contexts: memories prefilled with N random pairs per head, comma-separated "
                  "(tokens/s and resident bytes per pair; docs/long_memory.md)")
      ->delimiter(',');
  cmd->add_option("--memory", o->backends, "with --pairs: the retrieval backends timed, exact and/or approx")->delimiter(',');
  add_approx_flags(cmd, &o->approx);
  cmd->callback([o] {
    MOSAIC_CHECK(!o->bench.contexts.empty(), "no context lengths", "e.g. --contexts 64,256,1024");
    for (int c : o->bench.contexts) MOSAIC_CHECK(c > 0, "context lengths must be positive", "e.g. --contexts 64,256,1024");
    o->bench.limit.policy = parse_eviction(o->evict);
    set_threads(o->bench.threads);
    print_machine_line();
    for (int64_t n : o->pairs)
      MOSAIC_CHECK(n > 0 && n < (int64_t{1} << 31), "--pairs must be positive and below 2^31", "e.g. --pairs 16384,131072,1048576");
    check_retrieval(o->approx);
    for (const auto& name : o->backends) parse_memory_backend(name);
    const BenchModels m = bench_models(*o);
    const LanguageModel<float>* mosaic = m.mosaic.get();
    LanguageModel<float>* gpt = m.gpt.get();
    const bool files = !o->mosaic_model.empty() || !o->gpt_model.empty();
    const std::string source = files ? "checkpoint" : "random " + o->config;
    const std::string models = model_line("mosaic", mosaic, files ? o->mosaic_model : source) +
                               model_line("gpt   ", gpt, files ? o->gpt_model : source);
    if (!o->pairs.empty()) {
      MOSAIC_CHECK(mosaic, "--pairs times a Memory Mosaic's memories", "give --mosaic-model, or no model for a random one");
      run_long_memory_speed(*o, *mosaic, models);
      return;
    }
    const std::string threads = o->bench.threads > 0 ? std::to_string(o->bench.threads)
                                                      : "up to " + std::to_string(omp_get_max_threads()) + " (those other processes leave free)";
    std::printf("%sthreads %s, greedy, %d tokens per streaming measurement after a random prompt of `context` tokens\n",
                models.c_str(), threads.c_str(), o->bench.tokens);
    const auto result = measure_generation(o->bench, mosaic, gpt, [](const GenerateBenchResult& r, size_t i) {
      print_row(r, i, &GeneratePath::tokens_per_s, "generated tokens/s, wall clock");
    });
    std::printf("\n");
    for (size_t i = 0; i < result.contexts.size(); ++i)
      print_row(result, i, &GeneratePath::prompt_tokens_per_s, "prompt tokens/s, wall clock");
    for (const auto& p : result.paths) std::printf("  %-24s %s\n", p.name.c_str(), p.note.c_str());
    if (!o->json.empty()) write_json_file(o->json, generation_report(result, o->bench, models));
  });
}

struct RetrievalBenchOptions {
  std::string model, json, tokenizer_dir;
  std::vector<std::string> texts;
  int64_t tokens = 32768;
  std::vector<int> top_k{8, 16, 32, 64};
  RetrievalOptions approx;
  int window = 0;
  int threads = 0;
};

// The first tokens / files tokens of each text file (documents after <|endoftext|>), in a row.
std::vector<int32_t> stream_of_texts(const RetrievalBenchOptions& o, const Gpt2Tokenizer& tokenizer) {
  std::vector<int32_t> out;
  for (const auto& path : o.texts) {
    const std::vector<uint16_t> part = read_eval_tokens(path, tokenizer);
    const size_t take = std::min<size_t>(part.size(), static_cast<size_t>(o.tokens / static_cast<int64_t>(o.texts.size())));
    out.insert(out.end(), part.begin(), part.begin() + take);
  }
  MOSAIC_CHECK(out.size() >= 2, "the texts give " + std::to_string(out.size()) + " tokens", "pass text files with --text");
  return out;
}

void print_quality_run(const RetrievalQualityRun& r) {
  if (r.name == "exact") {
    std::printf("%-22s %8s %8s %9s %9s %19s %8s %8s %8s\n", "run", "loss", "queries", "loss@apx", "exact@apx",
                "diff (se)", "rel %", "recall", "TVD");
    std::printf("%-22s %8.4f %8s %9s %9s %19s %8s %8s %8s   %.0f s\n", r.name.c_str(), r.loss, "-", "-", "-", "-", "-", "-", "-",
                r.seconds);
  } else {
    char diff[40];
    std::snprintf(diff, sizeof diff, "%+.5f (%.5f)", r.difference, r.difference_se);
    char audit[40] = "       -        -";  // a bounded exact run has no approximate query to audit
    if (r.queries) std::snprintf(audit, sizeof audit, "%8.4f %8.4f", r.recall, r.tvd);
    std::printf("%-22s %8.4f %8lld %9.4f %9.4f %19s %+8.3f %s   %.0f s\n", r.name.c_str(), r.loss,
                static_cast<long long>(r.queries), r.loss_approximate, r.loss_exact_there, diff,
                r.loss_exact_there > 0 ? 100 * r.difference / r.loss_exact_there : 0.0, audit, r.seconds);
  }
  std::fflush(stdout);
}

void add_retrieval_bench(CLI::App& bench) {
  auto o = std::make_shared<RetrievalBenchOptions>();
  auto* cmd = bench.add_subcommand(
      "retrieval", "approximate retrieval against exact on real text: loss, recall@K of the index, TVD of the weights");
  cmd->add_option("-m,--model", o->model, "a Memory Mosaic checkpoint or run folder")->required();
  cmd->add_option("--text", o->texts, "text files, their first tokens / files tokens each, in a row")->required()->delimiter(',');
  cmd->add_option("--tokens", o->tokens, "tokens streamed")->check(CLI::Range(int64_t{2}, int64_t{1} << 30));
  cmd->add_option("--approx-k", o->top_k, "K of each approximate run, comma-separated")->delimiter(',');
  add_approx_flags(cmd, &o->approx, false);
  cmd->add_option("--window", o->window,
                  "also exact retrieval over the newest N pairs only (--mem-limit N --evict oldest), on the same positions")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  cmd->add_option("--json", o->json, "also write the results as JSON");
  cmd->add_option("--tokenizer", o->tokenizer_dir, "folder with encoder.json and vocab.bpe (default: the installed copy)");
  cmd->callback([o] {
    std::vector<RetrievalOptions> runs;
    for (int k : o->top_k) {
      RetrievalOptions r = o->approx;
      r.backend = MemoryBackend::Approximate;
      r.top_k = k;
      check_retrieval(r);
      runs.push_back(r);
    }
    set_threads(o->threads);
    print_machine_line();
    const std::string path = resolve_model_path(o->model);
    auto model = load_model(path);
    MOSAIC_CHECK(model->config().arch == "mosaic", path + " is not a Memory Mosaic", "retrieval is a Memory Mosaic's");
    const auto tokenizer = Gpt2Tokenizer::load(o->tokenizer_dir.empty() ? Gpt2Tokenizer::default_dir() : o->tokenizer_dir);
    const std::vector<int32_t> tokens = stream_of_texts(*o, tokenizer);
    std::printf("model %s; %zu tokens from %zu file%s in a row; %s\n", path.c_str(), tokens.size(), o->texts.size(),
                o->texts.size() == 1 ? "" : "s", describe_retrieval(runs.empty() ? o->approx : runs.front()).c_str());
    std::printf("loss: mean next-token loss; @apx: over the positions an approximate query answered (exact's on the same "
                "positions beside it); diff: paired mean, approx - exact\n");
    nlohmann::json out = nlohmann::json::array();
    measure_retrieval_quality(*model, tokens, runs, o->window, o->threads, [&](const RetrievalQualityRun& r) {
      print_quality_run(r);
      out.push_back({{"name", r.name}, {"retrieval", describe_retrieval(r.retrieval)}, {"top_k", r.retrieval.top_k},
                     {"recent", r.retrieval.recent}, {"limit", r.limit}, {"loss", r.loss}, {"positions", r.positions},
                     {"loss_approximate", r.loss_approximate}, {"loss_exact_there", r.loss_exact_there},
                     {"difference", r.difference}, {"difference_se", r.difference_se}, {"recall", r.recall},
                     {"tvd", r.tvd}, {"recall_by_layer", r.recall_by_layer}, {"tvd_by_layer", r.tvd_by_layer},
                     {"queries", r.queries}, {"seconds", r.seconds}});
    });
    if (o->json.empty()) return;
    nlohmann::json j = machine_facts();
    j.update({{"bench", "retrieval"}, {"model", path}, {"texts", o->texts}, {"tokens", tokens.size()}, {"runs", out}});
    write_json_file(o->json, j);
  });
}

void print_gemm_table(const std::vector<GemmResult>& results) {
  std::printf("%8s %8s %8s %10s\n", "m", "n", "k", "GFLOP/s");
  for (const auto& r : results) std::printf("%8d %8d %8d %10.1f\n", r.m, r.n, r.k, r.gflops);
}

void add_gemm_bench(CLI::App& bench) {
  auto threads = std::make_shared<int>(0);
  auto json = std::make_shared<std::string>();
  auto* cmd = bench.add_subcommand("gemm", "the machine's ceiling, measured now: OpenBLAS's sgemm and the FMA peak");
  cmd->add_option("-t,--threads", *threads, "threads (default: all cores)");
  cmd->add_option("--json", *json, "also write the results as JSON");
  cmd->callback([threads, json] {
    set_threads(*threads);
    print_machine_line();
    const auto results = measure_gemm(5);
    print_gemm_table(results);
    const auto peaks = fma_peaks();
    std::printf("sgemm ceiling: %.1f GFLOP/s with %d threads\n", gemm_ceiling(results), omp_get_max_threads());
    for (const auto& [target, gflops] : peaks)
      std::printf("FMA peak, %s (registers only): %.1f GFLOP/s\n", simd_target_name(target), gflops);
    const Ceiling ceiling = ceiling_of(gemm_ceiling(results), peaks);
    std::printf("ceiling: %.1f GFLOP/s (%s)\n", ceiling.gflops(), ceiling.source().c_str());
    if (!json->empty()) write_json_file(*json, gemm_report(results, peaks, ceiling));
  });
}

// Mean ms per step by layer kind (summed over blocks). The head's gradient gemms run inside
// the forward pass (fused, chunked) but count as backward.
void print_breakdown(const std::string& name, const TrainBenchResult& r) {
  std::printf("\n%s per layer (ms per step, all blocks together)\n%-22s %9s %9s %9s %7s\n", name.c_str(), "part",
              "forward", "backward", "total", "share");
  double sum = 0;
  for (const auto& p : r.parts) sum += p.forward_ms + p.backward_ms;
  for (const auto& p : r.parts)
    std::printf("%-22s %9.1f %9.1f %9.1f %6.1f%%\n", p.name.c_str(), p.forward_ms, p.backward_ms,
                p.forward_ms + p.backward_ms, 100 * (p.forward_ms + p.backward_ms) / sum);
  std::printf("%-22s %9.1f %9.1f %9.1f  (whole step, median: %.1f)\n", "sum", r.forward_ms, r.backward_ms + r.optimizer_ms, sum,
              r.median_ms);
}

struct TrainBenchOptions {
  std::vector<std::string> configs{"d128", "d128-gpt"};
  int threads = 0, warmup = 2, steps = 8;
  int n_layer = 0, n_embd = 0, n_head = 0, block_size = 0, batch_size = 0;  // 0: the config's own
  bool breakdown = true;
  std::string json, reference_dir, reference_script = default_reference_script();
};

void check_train_bench_flags(const TrainBenchOptions& o) {
  const bool overridden = o.n_layer || o.n_embd || o.n_head || o.block_size || o.batch_size;
  MOSAIC_CHECK(o.reference_dir.empty() || !overridden, "--reference times the named configs only",
               "drop the size overrides, or --reference");
  if (!o.reference_dir.empty())  // fail before minutes of our own measurements, not after
    MOSAIC_CHECK(std::filesystem::is_directory(o.reference_dir) && std::filesystem::exists(o.reference_script),
                 "--reference " + o.reference_dir + " is not a folder, or " + o.reference_script + " is missing",
                 "git clone https://github.com/facebookresearch/MemoryMosaics and pass its root");
}

// The named config with the size flags' overrides.
TrainBenchConfig overridden_config(const TrainBenchOptions& o, const std::string& name) {
  auto config = train_bench_config(name);
  if (o.n_layer) config.model.n_layer = o.n_layer;
  if (o.n_embd) config.model.n_embd = o.n_embd;
  if (o.n_head) config.model.n_head = o.n_head;
  if (o.block_size) config.model.block_size = o.block_size;
  if (o.batch_size) config.batch_size = o.batch_size;
  return config;
}

void print_train_header() {
  std::printf("%-10s %8s %9s %9s %9s %9s %10s %11s %9s %9s\n", "config", "params", "step ms", "fwd ms", "bwd ms",
              "adamw ms", "tok/s", "MFLOP/tok", "GFLOP/s", "RSS MiB");
}

void print_train_row(const TrainBenchRun& run) {
  const TrainBenchResult& r = run.result;
  std::printf("%-10s %7.2fM %9.1f %9.1f %9.1f %9.1f %10.0f %11.1f %9.1f %9.0f\n", run.config.c_str(), r.parameters / 1e6,
              r.median_ms, r.forward_ms, r.backward_ms, r.optimizer_ms, r.tokens_per_s, r.flops_per_token / 1e6,
              r.gflops, r.peak_rss_mb);
  std::fflush(stdout);
}

void print_reference_row(const TrainBenchRun& run) {
  const ReferenceResult& ref = *run.reference;
  std::printf("%-10s %8s %9.1f %9s %9s %9s %10.0f %11s %9.1f %9.0f  (reference, torch %s)\n", "", "", ref.median_ms,
              "", "", "", ref.tokens_per_s, "", run.result.flops_per_token * ref.tokens_per_s / 1e9, ref.peak_rss_mb,
              ref.torch_version.c_str());
  std::fflush(stdout);
}

// Each config's GFLOP/s as a fraction of the ceiling, and against the reference when it ran.
void print_fractions(const std::vector<TrainBenchRun>& runs, double ceiling) {
  for (const auto& run : runs) {
    const TrainBenchResult& r = run.result;
    std::printf("%-10s %6.1f%% of the ceiling", run.config.c_str(), 100 * r.gflops / ceiling);
    if (run.reference) {
      const auto& ref = *run.reference;
      const double ref_gflops = r.flops_per_token * ref.tokens_per_s / 1e9;
      std::printf("; reference %.1f%%; ours / reference %.2fx tokens/s, %.2fx less memory", 100 * ref_gflops / ceiling,
                  r.tokens_per_s / ref.tokens_per_s, ref.peak_rss_mb / r.peak_rss_mb);
    }
    std::printf("\n");
  }
}

void add_train_bench(CLI::App& bench) {
  auto o = std::make_shared<TrainBenchOptions>();
  auto* cmd = bench.add_subcommand("train", "training throughput of full steps as a fraction of the machine's ceiling");
  cmd->add_option("--config", o->configs, "d128, d256, d128-gpt, d256-gpt (several allowed)");
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  cmd->add_option("--warmup", o->warmup, "untimed steps first");
  cmd->add_option("--steps", o->steps, "timed steps (the median is reported)")->check(CLI::PositiveNumber);
  cmd->add_option("--json", o->json, "also write the results as JSON");
  cmd->add_flag("!--no-breakdown", o->breakdown, "skip the per-layer forward/backward table");
  cmd->add_option("--reference", o->reference_dir,
                  "also time the official PyTorch code (a MemoryMosaics checkout) on each config, right after ours, "
                  "and report ours / reference");
  cmd->add_option("--reference-script", o->reference_script, "tools/bench_reference.py (default: next to the build)");
  for (auto [flag, field] : {std::pair{"--n-layer", &TrainBenchOptions::n_layer}, {"--n-embd", &TrainBenchOptions::n_embd},
                             {"--n-head", &TrainBenchOptions::n_head}, {"--block-size", &TrainBenchOptions::block_size},
                             {"--batch-size", &TrainBenchOptions::batch_size}})
    cmd->add_option(flag, (*o).*field, "override the configs' value (for scaling studies)")->check(CLI::PositiveNumber);
  cmd->callback([o] {
    check_train_bench_flags(*o);
    set_threads(o->threads);
    const int threads = omp_get_max_threads();
    // The ceiling is measured before and after the training runs and the higher figure kept,
    // so that a neighbour's burst during one measurement cannot flatter the fractions.
    print_machine_line();
    const Ceiling ceiling_before = measure_ceiling(3);
    print_train_header();
    std::vector<TrainBenchRun> runs;
    for (const auto& name : o->configs) {
      TrainBenchRun& run = runs.emplace_back();
      run.config = name;
      run.result = measure_training(overridden_config(*o, name), o->warmup, o->steps);
      print_train_row(run);
      if (o->reference_dir.empty()) continue;
      run.reference = measure_reference(o->reference_script, o->reference_dir, name, threads, o->warmup, o->steps);
      print_reference_row(run);
    }
    const Ceiling ceiling = best_of(ceiling_before, measure_ceiling(3));
    std::printf("\nceiling %.1f GFLOP/s, the %s (%d threads; sgemm %.1f, FMA peak %.1f; best of a measurement before, "
                "%.1f, and after)\n",
                ceiling.gflops(), ceiling.source().c_str(), threads, ceiling.sgemm_gflops, ceiling.fma_gflops,
                ceiling_before.gflops());
    print_fractions(runs, ceiling.gflops());
    if (o->breakdown)
      for (const auto& run : runs) print_breakdown(run.config, run.result);
    if (!o->json.empty()) write_json_file(o->json, train_report(runs, ceiling, ceiling_before.gflops()));
  });
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "performance measurements (benchmarks, not tests)");
  bench->require_subcommand(1, 1);
  add_gemm_bench(*bench);
  add_train_bench(*bench);
  add_generate_bench(*bench);
  add_retrieval_bench(*bench);
}

}  // namespace mosaic
