// Windows in order, `batch` at a time, through the model's evaluate pass; per-position sums in
// double (a million windows of float losses would lose digits in float).
#include "eval/lm_eval.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "io/token_shards.hpp"
#include "models/factory.hpp"
#include "text/gpt2_tokenizer.hpp"
#include "text/prepare.hpp"

namespace mosaic {

std::vector<uint16_t> read_eval_tokens(const std::string& path, const Gpt2Tokenizer& tokenizer) {
  if (std::filesystem::path(path).extension() == ".bin") return read_token_shard(path);
  std::vector<uint16_t> tokens;
  DocumentReader reader(path);
  for (std::string doc; reader.next(doc);) {
    tokens.push_back(static_cast<uint16_t>(tokenizer.eot()));  // as prepare writes documents
    for (int id : tokenizer.encode(doc)) tokens.push_back(static_cast<uint16_t>(id));
  }
  return tokens;
}

std::vector<uint16_t> read_eval_tokens(std::span<const std::string> paths, const Gpt2Tokenizer& tokenizer) {
  std::vector<uint16_t> tokens;
  for (const auto& path : paths) {
    const auto part = read_eval_tokens(path, tokenizer);
    tokens.insert(tokens.end(), part.begin(), part.end());
  }
  return tokens;
}

EvalResult evaluate_tokens(LanguageModel<float>& model, std::span<const uint16_t> tokens, const EvalOptions& options,
                           const std::function<double(int)>& token_bytes,
                           const std::function<void(int64_t, int64_t)>& progress) {
  const ModelConfig& config = model.config();
  const int T = options.context > 0 ? options.context : config.block_size;
  MOSAIC_CHECK(options.batch > 0, "--batch must be positive", "e.g. --batch 8");
  MOSAIC_CHECK(T <= (1 << 20), "--context " + std::to_string(T) + " is beyond 2^20 tokens", "give a shorter context");
  std::unique_ptr<LanguageModel<float>> longer;  // a Memory Mosaic or a relative-position GPT past its block_size
  if (T > config.block_size) {
    MOSAIC_CHECK(!config.learned_positions(),
                 "--context " + std::to_string(T) + " is longer than the GPT's block_size " + std::to_string(config.block_size),
                 "a GPT's learned positions end at its block_size; give --context " + std::to_string(config.block_size) +
                     " or less (a Memory Mosaic, or a GPT with pos_encoding rope or alibi, takes any context)");
    longer = with_block_size(model, T);
  }
  LanguageModel<float>& m = longer ? *longer : model;
  // Each window: its first token and how many of its T targets are scored.
  struct Window {
    int64_t start;
    int scored;
  };
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<Window> windows;
  if (options.documents) {
    for (int64_t i = 0; i + 1 < n; ++i) {
      if (tokens[i] != options.document_start) continue;
      int64_t end = i + 1;  // the next document's start (its marker is the last target), or the stream's end
      while (end < n - 1 && end - i < T && tokens[end] != options.document_start) ++end;
      windows.push_back({i, static_cast<int>(std::min<int64_t>(T, end - i))});
    }
  } else {
    for (int64_t s = 0; s + T < n; s += T) windows.push_back({s, T});
  }
  MOSAIC_CHECK(!windows.empty(),
               options.documents ? "the input holds no document (no <|endoftext|> followed by text)"
                                 : "the input holds " + std::to_string(n) + " tokens, fewer than one window of " +
                                       std::to_string(T) + " + 1",
               "give more text, or a shorter --context");
  if (options.max_windows > 0 && static_cast<int64_t>(windows.size()) > options.max_windows)
    windows.resize(options.max_windows);
  for (const Window& w : windows)
    check_tokens_fit(tokens.subspan(w.start, w.scored + 1), config.vocab_size, "the input");

  EvalResult r;
  r.context = T;
  r.windows = static_cast<int64_t>(windows.size());
  for (const Window& w : windows) r.tokens_scored += w.scored;
  r.tokens_left_out = n - 1 - r.tokens_scored;
  std::vector<double> sum(T, 0.0), sum_sq(T, 0.0);
  std::vector<int64_t> count(T, 0);
  std::vector<int32_t> idx, targets;
  double total = 0, bytes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t w0 = 0; w0 < r.windows; w0 += options.batch) {
    const int B = static_cast<int>(std::min<int64_t>(options.batch, r.windows - w0));
    idx.assign(static_cast<size_t>(B) * T, options.document_start);  // past a short document: padding,
    targets.assign(idx.size(), -1);                                   // its targets ignored
    for (int b = 0; b < B; ++b) {
      const Window& w = windows[w0 + b];
      for (int t = 0; t < w.scored; ++t) {
        idx[b * T + t] = tokens[w.start + t];
        targets[b * T + t] = tokens[w.start + t + 1];
      }
    }
    m.evaluate(idx.data(), targets.data(), B, T);
    const float* loss = m.token_losses();
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < windows[w0 + b].scored; ++t) {
        const double l = loss[b * T + t];
        sum[t] += l;
        sum_sq[t] += l * l;
        ++count[t];
        total += l;
        bytes += token_bytes(targets[b * T + t]);
      }
    if (progress) progress(w0 + B, r.windows);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MOSAIC_CHECK(std::isfinite(total), "the model's loss is not finite on this input",
               "the checkpoint holds non-finite weights, or diverged: check it with mosaic info");
  r.mean_loss = total / static_cast<double>(r.tokens_scored);
  r.perplexity = std::exp(r.mean_loss);
  r.bytes = bytes;
  r.bits_per_byte = bytes > 0 ? total / std::log(2.0) / bytes : 0;
  r.position_loss.assign(T, 0.0);
  r.position_stderr.assign(T, 0.0);
  r.position_count = count;
  for (int t = 0; t < T; ++t) {
    const double c = static_cast<double>(count[t]);
    if (c == 0) continue;
    r.position_loss[t] = sum[t] / c;
    const double var = c > 1 ? std::max(0.0, (sum_sq[t] - sum[t] * sum[t] / c) / (c - 1)) : 0.0;
    r.position_stderr[t] = std::sqrt(var / c);
  }
  return r;
}

}  // namespace mosaic
