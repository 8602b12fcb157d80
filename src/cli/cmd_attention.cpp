// `mosaic attention`: what a trained model attends to (eval/attention_map.hpp). Default: the
// last position's weights over the window, averaged over the windows of a text, per layer and
// head, as CSV (figures 12 and 13), with a per-head summary (recency width beside the Memory
// Mosaic's leaky-average decay: figure 15). --explain: the pairs each head retrieved at every
// position of a short text.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/config_table.hpp"
#include "core/error.hpp"
#include "core/progress_line.hpp"
#include "eval/attention_map.hpp"
#include "eval/lm_eval.hpp"
#include "io/atomic_file.hpp"
#include "io/model_io.hpp"
#include "kernels/threads.hpp"
#include "text/gpt2_tokenizer.hpp"

namespace mosaic {

namespace {

struct AttentionCommandOptions {
  std::string model, tokenizer_dir, text, maps_csv, heads_csv, json;
  std::vector<std::string> inputs;
  AttentionMapOptions maps;
  bool explain = false;
  int top = 3;
  int threads = 0;
};

// NaN (GPT's decay) as an empty CSV field and JSON null.
std::string csv_number(double v) {
  if (std::isnan(v)) return "";
  char s[32];
  std::snprintf(s, sizeof s, "%.6g", v);
  return s;
}
nlohmann::json json_number(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

std::string maps_csv(const AttentionMaps& r) {
  std::string csv = "layer,head,position,distance,weight\n";
  char line[96];
  for (const auto& m : r.heads)
    for (int j = 0; j < r.context; ++j) {
      std::snprintf(line, sizeof line, "%d,%d,%d,%d,%.8g\n", m.layer, m.head, j, r.context - 1 - j, m.weight[j]);
      csv += line;
    }
  return csv;
}

std::string heads_csv(const AttentionMaps& r) {
  std::string csv = "layer,head,context,mass_last_10pct,half_mass_width,mean_distance,decay,time_constant,key_scale\n";
  char line[160];
  for (const auto& m : r.heads) {
    std::snprintf(line, sizeof line, "%d,%d,%d,%.6f,%d,%.4f,", m.layer, m.head, r.context, m.mass_last, m.half_width,
                  m.distance);
    csv += line + csv_number(m.decay) + "," + csv_number(m.time_constant) + "," + csv_number(m.key_scale) + "\n";
  }
  return csv;
}

// A token as printable text: quoted, newlines and control bytes escaped.
std::string shown(const Gpt2Tokenizer& tokenizer, int id) {
  std::string out = "\"";
  for (unsigned char c : tokenizer.token_bytes(id)) {
    if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else if (c < 0x20) out += "?";
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

void run_maps(const AttentionCommandOptions& o, LanguageModel<float>& model, const std::vector<uint16_t>& tokens,
              const std::string& path) {
  AttentionMaps r;
  {
    ProgressLine progress("attention", "windows");
    r = attention_maps(model, tokens, o.maps, std::ref(progress));
  }
  const ModelConfig& c = model.config();
  std::printf("model:   %s (%s%s, d=%d, %d layers x %d heads, block_size %d)\n", path.c_str(), c.arch.c_str(),
              c.arch == "gpt" ? (", " + (c.pos_encoding.empty() ? std::string("learned") : c.pos_encoding) + " positions").c_str() : "",
              c.n_embd, c.n_layer, c.n_head, c.block_size);
  std::printf("input:   %zu tokens: %lld windows of %d tokens (%.1fx the block_size); loss %.4f nats/token\n",
              tokens.size(), static_cast<long long>(r.windows), r.context,
              static_cast<double>(r.context) / c.block_size, r.mean_loss);
  std::printf("the last position's weights over the %d positions %s, mean over the windows:\n",
              r.sees_self ? r.context : r.context - 1, r.sees_self ? "up to itself" : "before it");
  std::printf("layer head  last 10%%  half-mass width  mean distance%s\n",
              c.arch == "gpt" ? "" : "  decay   time const  key scale");
  for (const auto& m : r.heads) {
    std::printf("%5d %4d  %8.3f  %15d  %13.1f", m.layer, m.head, m.mass_last, m.half_width, m.distance);
    if (!std::isnan(m.decay)) std::printf("  %.4f  %10.2f  %9.2f", m.decay, m.time_constant, m.key_scale);
    std::printf("\n");
  }
  if (!o.maps_csv.empty()) {
    write_file_atomically(o.maps_csv, std::string_view(maps_csv(r)));
    std::printf("wrote %s\n", o.maps_csv.c_str());
  }
  if (!o.heads_csv.empty()) {
    write_file_atomically(o.heads_csv, std::string_view(heads_csv(r)));
    std::printf("wrote %s\n", o.heads_csv.c_str());
  }
  if (!o.json.empty()) {
    nlohmann::json heads = nlohmann::json::array();
    for (const auto& m : r.heads)
      heads.push_back({{"layer", m.layer}, {"head", m.head}, {"weight", m.weight}, {"mass_last_10pct", m.mass_last},
                       {"half_mass_width", m.half_width}, {"mean_distance", m.distance},
                       {"decay", json_number(m.decay)}, {"time_constant", json_number(m.time_constant)},
                       {"key_scale", json_number(m.key_scale)}});
    nlohmann::json j = members_json(ModelConfig::fields(), c, &ModelConfig::arch, &ModelConfig::pos_encoding,
                                   &ModelConfig::block_size);
    j.update({{"model", path},       {"inputs", o.inputs},       {"context", r.context}, {"windows", r.windows},
              {"sees_self", r.sees_self}, {"mean_loss", r.mean_loss}, {"heads", heads}});
    write_file_atomically(o.json, std::string_view(j.dump(1) + "\n"));
    std::printf("wrote %s\n", o.json.c_str());
  }
}

void run_explain(const AttentionCommandOptions& o, LanguageModel<float>& model, const std::vector<uint16_t>& tokens,
                 const Gpt2Tokenizer& tokenizer) {
  const Explanation e = explain_attention(model, tokens, o.top, o.maps.context);
  const ModelConfig& c = model.config();
  std::printf("%d tokens; for each position and head, the %d %s with the largest weights, as "
              "weight [position] %s:\n",
              e.tokens, o.top, e.sees_self ? "positions" : "stored pairs",
              e.sees_self ? "token" : "key's last token -> the value's next token");
  const size_t per_position = static_cast<size_t>(c.n_head);
  nlohmann::json rows = nlohmann::json::array();
  for (int i = 0; i < e.tokens; ++i) {
    std::printf("[%d] %s\n", i, shown(tokenizer, tokens[i]).c_str());
    for (int l = 0; l < c.n_layer; ++l)
      for (size_t h = 0; h < per_position; ++h) {
        const auto& row = e.rows[(static_cast<size_t>(l) * c.n_head + h) * e.tokens + i];
        std::printf("  L%d H%zu ", l, h);
        if (row.top.empty()) std::printf(" (nothing stored yet)");
        nlohmann::json top = nlohmann::json::array();
        for (const auto& r : row.top) {
          std::string pair = shown(tokenizer, tokens[r.position]);
          if (!e.sees_self) pair += "->" + shown(tokenizer, tokens[r.position + 1]);
          std::printf(" %.2f [%d] %s", r.weight, r.position, pair.c_str());
          top.push_back({{"position", r.position}, {"weight", r.weight}});
        }
        std::printf("\n");
        rows.push_back({{"layer", l}, {"head", h}, {"position", i}, {"top", top}});
      }
  }
  if (!o.json.empty()) {
    std::vector<int> ids(tokens.begin(), tokens.begin() + e.tokens);
    const nlohmann::json j = {{"tokens", ids}, {"sees_self", e.sees_self}, {"rows", rows}};
    write_file_atomically(o.json, std::string_view(j.dump(1) + "\n"));
    std::printf("wrote %s\n", o.json.c_str());
  }
}

}  // namespace

void add_attention_command(CLI::App& app) {
  auto o = std::make_shared<AttentionCommandOptions>();
  auto* cmd = app.add_subcommand(
      "attention", "what a model attends to: the last position's weights averaged over a text's windows, per layer and "
                   "head (--explain: what each head retrieved at each position of a short text)");
  cmd->add_option("-m,--model", o->model, "checkpoint (.safetensors) or run folder (its newest checkpoint)")->required();
  auto* inputs = cmd->add_option("inputs", o->inputs, "text (.txt, .json, .jsonl: what prepare reads) or token shards (.bin)");
  cmd->add_option("--text", o->text, "the text itself instead of files")->excludes(inputs);
  cmd->add_option("--context", o->maps.context,
                  "tokens per window (0 = the model's block_size; longer for a Memory Mosaic or a rope/alibi GPT)")
      ->check(CLI::Range(0, 1 << 16));
  cmd->add_option("--windows", o->maps.max_windows, "average over at most this many windows (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", o->maps.batch, "windows per forward pass")->check(CLI::Range(1, 4096));
  cmd->add_option("-o,--maps", o->maps_csv, "write the averaged weights (layer,head,position,distance,weight) as CSV");
  cmd->add_option("--heads", o->heads_csv, "write the per-head summary (recency width, leaky decay) as CSV");
  cmd->add_option("--json", o->json, "also write the results as JSON");
  cmd->add_flag("--explain", o->explain,
               "for each position of the text's first window and each head, print the pairs with the largest weights");
  cmd->add_option("--top", o->top, "pairs per position and head with --explain")->check(CLI::Range(1, 64));
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  cmd->add_option("--tokenizer", o->tokenizer_dir,
                  "folder with encoder.json and vocab.bpe (default: $MOSAIC_TOKENIZER_DIR, else the installed or checkout copy)");
  cmd->callback([o] {
    MOSAIC_CHECK(!o->inputs.empty() || !o->text.empty(), "no input text",
                 "give text files (e.g. data/tinystories/valid.txt) or --text \"...\"");
    set_threads(o->threads);
    const std::string path = resolve_model_path(o->model);
    auto model = load_model(path);
    const std::string tokenizer_dir = o->tokenizer_dir.empty() ? Gpt2Tokenizer::default_dir() : o->tokenizer_dir;
    const auto tokenizer = Gpt2Tokenizer::load(tokenizer_dir);
    std::vector<uint16_t> tokens = read_eval_tokens(o->inputs, tokenizer);  // or --text's (they exclude each other)
    for (int id : tokenizer.encode(o->text)) tokens.push_back(static_cast<uint16_t>(id));
    if (o->explain)
      run_explain(*o, *model, tokens, tokenizer);
    else
      run_maps(*o, *model, tokens, path);
  });
}

}  // namespace mosaic
