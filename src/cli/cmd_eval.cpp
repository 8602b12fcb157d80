// `mosaic eval`: a checkpoint's loss, perplexity and bits per byte over text or token shards,
// in windows of its context (eval/lm_eval.hpp), as llama.cpp's perplexity tool and nanoGPT's
// eval_only do; --per-position writes the loss at each position of the window (figure 10).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/progress_line.hpp"
#include "core/error.hpp"
#include "eval/lm_eval.hpp"
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
};

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
    std::vector<double> bytes_of(tokenizer.vocab_size());
    for (int id = 0; id < tokenizer.vocab_size(); ++id) bytes_of[id] = static_cast<double>(tokenizer.token_bytes(id).size());
    auto token_bytes = [&](int id) { return id < static_cast<int>(bytes_of.size()) ? bytes_of[id] : 0.0; };
    o->eval.document_start = tokenizer.eot();
    EvalResult r;
    {
      ProgressLine progress("eval", "windows");
      r = evaluate_tokens(*model, tokens, o->eval, token_bytes, std::ref(progress));
    }
    const ModelConfig& c = model->config();
    std::printf("model:  %s (%s, d=%d, %d layers, block_size %d)\n", path.c_str(), c.arch.c_str(), c.n_embd, c.n_layer,
                c.block_size);
    std::printf("input:  %zu file%s, %zu tokens: %lld windows of %d tokens%s (%lld tokens not scored)\n",
                o->inputs.size(), o->inputs.size() == 1 ? "" : "s", tokens.size(), static_cast<long long>(r.windows),
                r.context, o->eval.documents ? ", one per document" : "", static_cast<long long>(r.tokens_left_out));
    std::printf("loss:   %.4f nats/token, perplexity %.3f, %.4f bits per byte (%lld tokens, %.0f bytes; %.1f s)\n",
                r.mean_loss, r.perplexity, r.bits_per_byte, static_cast<long long>(r.tokens_scored), r.bytes, r.seconds);
    if (!o->per_position.empty()) {
      write_file_atomically(o->per_position, std::string_view(per_position_csv(r)));
      std::printf("wrote %s\n", o->per_position.c_str());
    }
    if (!o->json.empty()) {
      const nlohmann::json j = {{"model", path},          {"inputs", o->inputs},          {"context", r.context},
                                {"windows", r.windows},   {"tokens_scored", r.tokens_scored},
                                {"tokens_left_out", r.tokens_left_out},
                                {"mean_loss", r.mean_loss}, {"perplexity", r.perplexity}, {"bits_per_byte", r.bits_per_byte},
                                {"bytes", r.bytes},       {"position_loss", r.position_loss},
                                {"position_stderr", r.position_stderr}, {"position_count", r.position_count},
                                {"documents", o->eval.documents}};
      write_file_atomically(o->json, std::string_view(j.dump(2) + "\n"));
      std::printf("wrote %s\n", o->json.c_str());
    }
  });
}

}  // namespace mosaic
