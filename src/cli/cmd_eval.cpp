// `mosaic eval`: a checkpoint's loss, perplexity and bits per byte over text or token shards,
// in windows of its context (eval/lm_eval.hpp), as llama.cpp's perplexity tool and nanoGPT's
// eval_only do; --per-position writes the loss at each position of the window (figure 10);
// --vs scores a second model on the same windows and reports the paired difference (eval/paired.hpp).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/progress_line.hpp"
#include "eval/lm_eval.hpp"
#include "eval/paired.hpp"
#include "io/atomic_file.hpp"
#include "io/model_io.hpp"
#include "kernels/threads.hpp"
#include "text/gpt2_tokenizer.hpp"

namespace mosaic {

namespace {

struct EvalCommandOptions {
  std::string model, tokenizer_dir, per_position, json;
  std::vector<std::string> inputs;
  EvalOptions eval;
  int threads = 0;
  std::string vs, paired, ranges;  // the second model, its paired CSV, the position ranges
  int bootstrap = 2000;
};

// Scores one checkpoint with a progress line named after it.
EvalResult evaluate_checkpoint(LanguageModel<float>& model, std::span<const uint16_t> tokens, const EvalOptions& options,
                               const std::function<double(int)>& token_bytes, const char* label) {
  ProgressLine progress(label, "windows");
  return evaluate_tokens(model, tokens, options, token_bytes, std::ref(progress));
}

void print_model_line(const char* label, const std::string& path, const ModelConfig& c) {
  std::printf("%-7s %s (%s, d=%d, %d layers, block_size %d)\n", label, path.c_str(), c.arch.c_str(), c.n_embd, c.n_layer,
              c.block_size);
}

void print_loss_line(const char* label, const EvalResult& r) {
  std::printf("%-7s %.4f nats/token, perplexity %.3f, %.4f bits per byte (%lld tokens, %.0f bytes; %.1f s)\n", label,
              r.mean_loss, r.perplexity, r.bits_per_byte, static_cast<long long>(r.tokens_scored), r.bytes, r.seconds);
}

nlohmann::json summary_json(const std::string& path, const EvalResult& r) {
  return {{"model", path},         {"mean_loss", r.mean_loss},         {"perplexity", r.perplexity},
          {"bits_per_byte", r.bits_per_byte}, {"position_loss", r.position_loss}, {"position_stderr", r.position_stderr}};
}

nlohmann::json paired_json(const PairedComparison& c) {
  nlohmann::json ranges = nlohmann::json::array();
  for (const PairedStat& s : c.ranges)
    ranges.push_back({{"begin", s.range.begin},
                      {"end", s.range.end},
                      {"windows", s.windows},
                      {"tokens", s.tokens},
                      {"mean_loss_a", s.mean_a},
                      {"mean_loss_b", s.mean_b},
                      {"difference", s.difference},
                      {"paired_stderr", s.stderr_paired},
                      {"ci95", {s.ci_low, s.ci_high}},
                      {"ci_method", s.bootstrapped ? "bootstrap over windows" : "normal"}});
  return {{"ranges", ranges},
          {"bootstrap_samples", c.bootstrap_samples},
          {"bootstrap_seed", c.bootstrap_seed},
          {"position_difference", c.difference},
          {"position_paired_stderr", c.stderr_paired},
          {"position_windows", c.windows}};
}

void print_paired(const PairedComparison& c) {
  std::printf("paired: model - vs, over the same windows (95%% interval: %s)\n",
              c.bootstrap_samples > 0 ? "bootstrap over windows" : "normal");
  std::printf("  %-11s %8s %8s %8s %8s  %-21s %s\n", "positions", "model", "vs", "diff", "stderr", "95% interval", "windows");
  for (const PairedStat& s : c.ranges) {
    const std::string range = std::to_string(s.range.begin) + ":" + std::to_string(s.range.end);
    std::printf("  %-11s %8.4f %8.4f %+8.4f %8.4f  [%+.4f, %+.4f]  %lld\n", range.c_str(), s.mean_a, s.mean_b, s.difference,
                s.stderr_paired, s.ci_low, s.ci_high, static_cast<long long>(s.windows));
  }
}

std::string per_position_csv(const EvalResult& r) {
  std::string csv = "position,mean_loss,stderr,windows\n";
  char line[96];
  for (size_t t = 0; t < r.position_loss.size(); ++t) {
    if (r.position_count[t] == 0) continue;  // no document reached this position
    std::snprintf(line, sizeof line, "%zu,%.6f,%.6f,%lld\n", t, r.position_loss[t], r.position_stderr[t],
                  static_cast<long long>(r.position_count[t]));
    csv += line;
  }
  return csv;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalCommandOptions>();
  auto* cmd = app.add_subcommand("eval", "loss, perplexity and bits per byte of a model over text or token shards");
  cmd->add_option("-m,--model", o->model, "checkpoint (.safetensors) or run folder (its newest checkpoint)")->required();
  cmd->add_option("inputs", o->inputs,
                  "text (.txt with <|endoftext|> lines, .json, .jsonl: what prepare reads) or token shards (.bin)")
      ->required();
  cmd->add_option("--context", o->eval.context,
                  "tokens per window (0 = the model's block_size; a Memory Mosaic takes longer ones)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--batch", o->eval.batch, "windows per forward pass")->check(CLI::Range(1, 4096));
  cmd->add_option("--max-windows", o->eval.max_windows, "evaluate at most this many windows (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--documents", o->eval.documents,
               "one window per document, from its <|endoftext|> (position t = t tokens into a document; short "
               "documents score their own tokens only), instead of windows in a row over the stream");
  cmd->add_option("--per-position", o->per_position, "write the mean loss and its standard error at each position (CSV)");
  cmd->add_option("--json", o->json, "also write the results as JSON");
  cmd->add_option("--vs", o->vs,
                  "a second checkpoint scored on the same windows: the paired difference (model - vs) per position "
                  "range, with standard errors and 95% intervals over windows");
  cmd->add_option("--paired", o->paired,
                  "with --vs: write each position's two means, their difference and its paired standard error (CSV)");
  cmd->add_option("--ranges", o->ranges,
                  "with --vs: position ranges begin:end (0-based, end excluded), comma-separated (default: the window "
                  "and its quarters)");
  cmd->add_option("--bootstrap", o->bootstrap, "with --vs: bootstrap resamples of windows for the intervals (0: normal intervals)")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  cmd->add_option("--tokenizer", o->tokenizer_dir,
                  "folder with encoder.json and vocab.bpe (default: $MOSAIC_TOKENIZER_DIR, else the installed or checkout copy)");
  cmd->callback([o] {
    set_threads(o->threads);
    const std::string path = resolve_model_path(o->model);
    auto model = load_model(path);
    const std::string tokenizer_dir = o->tokenizer_dir.empty() ? Gpt2Tokenizer::default_dir() : o->tokenizer_dir;
    const auto tokenizer = Gpt2Tokenizer::load(tokenizer_dir);
    const std::vector<uint16_t> tokens = read_eval_tokens(o->inputs, tokenizer);
    const auto token_bytes = gpt2_token_bytes(tokenizer);
    o->eval.document_start = tokenizer.eot();
    const bool paired = !o->vs.empty();
    MOSAIC_CHECK(paired || (o->paired.empty() && o->ranges.empty()), "--paired and --ranges need --vs MODEL",
                 "give the second model to compare with: --vs CHECKPOINT");
    std::unique_ptr<LanguageModel<float>> other;
    std::string other_path;
    if (paired) {
      other_path = resolve_model_path(o->vs);
      other = load_model(other_path);
      // Both on the first model's windows.
      if (o->eval.context == 0) o->eval.context = model->config().block_size;
      o->eval.keep_window_losses = true;
    }
    const EvalResult r = evaluate_checkpoint(*model, tokens, o->eval, token_bytes, "eval");
    const EvalResult r_vs = paired ? evaluate_checkpoint(*other, tokens, o->eval, token_bytes, "eval --vs") : EvalResult{};
    PairedComparison comparison;
    if (paired) {
      const auto ranges = o->ranges.empty() ? default_position_ranges(r.context) : parse_position_ranges(o->ranges, r.context);
      comparison = compare_paired(r.window_losses, r_vs.window_losses, r.context, ranges, o->bootstrap, 1);
    }
    print_model_line("model:", path, model->config());
    if (paired) print_model_line("vs:", other_path, other->config());
    std::printf("input:  %zu file%s, %zu tokens: %lld windows of %d tokens%s (%lld tokens not scored)\n",
                o->inputs.size(), o->inputs.size() == 1 ? "" : "s", tokens.size(), static_cast<long long>(r.windows),
                r.context, o->eval.documents ? ", one per document" : "", static_cast<long long>(r.tokens_left_out));
    print_loss_line("loss:", r);
    if (paired) {
      print_loss_line("vs:", r_vs);
      print_paired(comparison);
    }
    if (!o->per_position.empty()) {
      write_file_atomically(o->per_position, std::string_view(per_position_csv(r)));
      std::printf("wrote %s\n", o->per_position.c_str());
    }
    if (!o->paired.empty()) {
      write_file_atomically(o->paired, std::string_view(paired_positions_csv(comparison)));
      std::printf("wrote %s\n", o->paired.c_str());
    }
    if (!o->json.empty()) {
      nlohmann::json j = {{"model", path},          {"inputs", o->inputs},          {"context", r.context},
                          {"windows", r.windows},   {"tokens_scored", r.tokens_scored},
                          {"tokens_left_out", r.tokens_left_out},
                          {"mean_loss", r.mean_loss}, {"perplexity", r.perplexity}, {"bits_per_byte", r.bits_per_byte},
                          {"bytes", r.bytes},       {"position_loss", r.position_loss},
                          {"position_stderr", r.position_stderr}, {"position_count", r.position_count},
                          {"documents", o->eval.documents}};
      if (paired) {
        j["vs"] = summary_json(other_path, r_vs);
        j["paired"] = paired_json(comparison);
      }
      write_file_atomically(o->json, std::string_view(j.dump(2) + "\n"));
      std::printf("wrote %s\n", o->json.c_str());
    }
  });
}

}  // namespace mosaic
