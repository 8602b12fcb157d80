// Windows and batches of a token stream, shared by eval and attention.
#include "eval/windows.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "models/factory.hpp"

namespace mosaic {

std::vector<Window> windows_in_a_row(int64_t n, int T, int64_t max_windows) {
  std::vector<Window> windows;
  for (int64_t s = 0; s + T < n; s += T) windows.push_back({s, T});
  MOSAIC_CHECK(!windows.empty(),
               "the input holds " + std::to_string(n) + " tokens, fewer than one window of " + std::to_string(T) + " + 1",
               "give more text, or a shorter --context");
  if (max_windows > 0 && static_cast<int64_t>(windows.size()) > max_windows) windows.resize(max_windows);
  return windows;
}

std::vector<Window> document_windows(std::span<const uint16_t> tokens, int T, int document_start, int64_t max_windows) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<Window> windows;
  for (int64_t i = 0; i + 1 < n; ++i) {
    if (tokens[i] != document_start) continue;
    int64_t end = i + 1;  // the next document's start (its marker is the last target), or the stream's end
    while (end < n - 1 && end - i < T && tokens[end] != document_start) ++end;
    windows.push_back({i, static_cast<int>(std::min<int64_t>(T, end - i))});
  }
  MOSAIC_CHECK(!windows.empty(), "the input holds no document (no <|endoftext|> followed by text)",
               "give more text, or a shorter --context");
  if (max_windows > 0 && static_cast<int64_t>(windows.size()) > max_windows) windows.resize(max_windows);
  return windows;
}

void for_each_batch(std::span<const uint16_t> tokens, std::span<const Window> windows, int T, int B, int32_t pad,
                    const std::function<void(const WindowBatch&)>& run) {
  const int64_t count = static_cast<int64_t>(windows.size());
  WindowBatch batch;
  for (batch.first = 0; batch.first < count; batch.first += B) {
    batch.B = static_cast<int>(std::min<int64_t>(B, count - batch.first));
    batch.idx.assign(static_cast<size_t>(batch.B) * T, pad);
    batch.targets.assign(batch.idx.size(), -1);
    for (int b = 0; b < batch.B; ++b) {
      const Window& w = windows[batch.first + b];
      for (int t = 0; t < w.scored; ++t) {
        batch.idx[static_cast<size_t>(b) * T + t] = tokens[w.start + t];
        batch.targets[static_cast<size_t>(b) * T + t] = tokens[w.start + t + 1];
      }
    }
    run(batch);
  }
}

LanguageModel<float>& model_for_context(LanguageModel<float>& model, int T, std::unique_ptr<LanguageModel<float>>& longer) {
  if (T <= model.config().block_size) return model;
  longer = with_block_size(model, T);
  return *longer;
}

}  // namespace mosaic
