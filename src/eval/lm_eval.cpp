// Windows in order (eval/windows.hpp), `batch` at a time, through the model's evaluate pass;
// per-position sums in double (a million windows of float losses would lose digits in float).
#include "eval/lm_eval.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>

#include "core/error.hpp"
#include "eval/windows.hpp"
#include "io/token_shards.hpp"
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

std::function<double(int)> gpt2_token_bytes(const Gpt2Tokenizer& tokenizer) {
  auto bytes = std::make_shared<std::vector<double>>(tokenizer.vocab_size());
  for (int id = 0; id < tokenizer.vocab_size(); ++id) (*bytes)[id] = static_cast<double>(tokenizer.token_bytes(id).size());
  return [bytes](int id) { return id >= 0 && id < static_cast<int>(bytes->size()) ? (*bytes)[id] : 0.0; };
}

namespace {

// The model to evaluate at context T: a GPT with learned positions refuses T > block_size.
LanguageModel<float>& model_at_context(LanguageModel<float>& model, int T, std::unique_ptr<LanguageModel<float>>& longer) {
  const ModelConfig& config = model.config();
  MOSAIC_CHECK(T <= config.block_size || !config.learned_positions(),
               "--context " + std::to_string(T) + " is longer than the GPT's block_size " + std::to_string(config.block_size),
               "a GPT's learned positions end at its block_size; give --context " + std::to_string(config.block_size) +
                   " or less (a Memory Mosaic, or a GPT with pos_encoding rope or alibi, takes any context)");
  return model_for_context(model, T, longer);
}

// The losses at each position of the window, summed over windows in double.
struct PositionSums {
  std::vector<double> sum, sum_sq;
  std::vector<int64_t> count;
  double total = 0, bytes = 0;
  explicit PositionSums(int T) : sum(T, 0.0), sum_sq(T, 0.0), count(T, 0) {}
  void add(int t, double loss, double target_bytes) {
    sum[t] += loss;
    sum_sq[t] += loss * loss;
    ++count[t];
    total += loss;
    bytes += target_bytes;
  }
};

// The mean loss, perplexity and bits per byte; each position's mean and its standard error.
void summarise(const PositionSums& s, int T, EvalResult& r) {
  MOSAIC_CHECK(std::isfinite(s.total), "the model's loss is not finite on this input",
               "the checkpoint holds non-finite weights, or diverged: check it with mosaic info");
  r.mean_loss = s.total / static_cast<double>(r.tokens_scored);
  r.perplexity = std::exp(r.mean_loss);
  r.bytes = s.bytes;
  r.bits_per_byte = s.bytes > 0 ? s.total / std::log(2.0) / s.bytes : 0;
  r.position_loss.assign(T, 0.0);
  r.position_stderr.assign(T, 0.0);
  r.position_count = s.count;
  for (int t = 0; t < T; ++t) {
    const double c = static_cast<double>(s.count[t]);
    if (c == 0) continue;
    r.position_loss[t] = s.sum[t] / c;
    const double var = c > 1 ? std::max(0.0, (s.sum_sq[t] - s.sum[t] * s.sum[t] / c) / (c - 1)) : 0.0;
    r.position_stderr[t] = std::sqrt(var / c);
  }
}

}  // namespace

EvalResult evaluate_tokens(LanguageModel<float>& model, std::span<const uint16_t> tokens, const EvalOptions& options,
                           const std::function<double(int)>& token_bytes,
                           const std::function<void(int64_t, int64_t)>& progress) {
  const int T = options.context > 0 ? options.context : model.config().block_size;
  MOSAIC_CHECK(options.batch > 0, "--batch must be positive", "e.g. --batch 8");
  MOSAIC_CHECK(T <= (1 << 20), "--context " + std::to_string(T) + " is beyond 2^20 tokens", "give a shorter context");
  std::unique_ptr<LanguageModel<float>> longer;  // a Memory Mosaic or a relative-position GPT past its block_size
  LanguageModel<float>& m = model_at_context(model, T, longer);
  const std::vector<Window> windows =
      options.documents ? document_windows(tokens, T, options.document_start, options.max_windows)
                        : windows_in_a_row(static_cast<int64_t>(tokens.size()), T, options.max_windows);
  for (const Window& w : windows)
    check_tokens_fit(tokens.subspan(w.start, w.scored + 1), model.config().vocab_size, "the input");

  EvalResult r;
  r.context = T;
  r.windows = static_cast<int64_t>(windows.size());
  for (const Window& w : windows) r.tokens_scored += w.scored;
  r.tokens_left_out = static_cast<int64_t>(tokens.size()) - 1 - r.tokens_scored;
  PositionSums sums(T);
  if (options.keep_window_losses) r.window_losses.assign(static_cast<size_t>(r.windows) * T, std::nanf(""));
  const auto t0 = std::chrono::steady_clock::now();
  // Past a short document: padding, its targets ignored.
  for_each_batch(tokens, windows, T, options.batch, options.document_start, [&](const WindowBatch& b) {
    m.evaluate(b.idx.data(), b.targets.data(), b.B, T);
    const float* loss = m.token_losses();
    for (int i = 0; i < b.B; ++i)
      for (int t = 0; t < windows[b.first + i].scored; ++t)
        sums.add(t, loss[i * T + t], token_bytes(b.targets[i * T + t]));
    if (options.keep_window_losses)
      for (int i = 0; i < b.B; ++i)
        std::copy_n(loss + static_cast<int64_t>(i) * T, windows[b.first + i].scored,
                    r.window_losses.begin() + (b.first + i) * T);
    if (progress) progress(b.first + b.B, r.windows);
  });
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  summarise(sums, T, r);
  return r;
}

}  // namespace mosaic
