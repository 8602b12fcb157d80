// How `mosaic eval` and `mosaic attention` cut a token stream into windows and run them in
// batches: windows of T inputs in a row over the stream, or one per document; batches of up to
// B windows as the model's (B, T) inputs and targets; the model copy that takes T > block_size.
// Not a trainer's batches (train/batch_sampler.hpp draws random windows).
// Shapes: tokens (n); a window in a row is tokens [k T, k T + T] (T inputs, T targets shifted by one).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "models/language_model.hpp"

namespace mosaic {

struct Window {
  int64_t start;  // its first input token
  int scored;     // its targets scored: T, or fewer where a document ends before the window does
};

// Windows in a row over n tokens: starts 0, T, 2T, ... for every window whose T targets fit;
// at most max_windows (0: all). Error with a hint when not one fits.
std::vector<Window> windows_in_a_row(int64_t n, int T, int64_t max_windows = 0);

// One window per document: from each `document_start` token followed by text, its first T
// targets, or fewer where the next document starts (its marker is the last target) or the
// stream ends; at most max_windows (0: all). Error with a hint when there is no document.
std::vector<Window> document_windows(std::span<const uint16_t> tokens, int T, int document_start,
                                     int64_t max_windows = 0);

// Up to B windows as the model's inputs and targets, (B, T) each: past a window's scored
// targets, `pad` inputs and ignored (-1) targets.
struct WindowBatch {
  int64_t first = 0;  // index of its first window
  int B = 0;
  std::vector<int32_t> idx, targets;
};

// Calls run(batch) for windows [0, B), [B, 2B), ... in order (the batch is reused).
void for_each_batch(std::span<const uint16_t> tokens, std::span<const Window> windows, int T, int B, int32_t pad,
                    const std::function<void(const WindowBatch&)>& run);

// The model to run windows of T tokens on: itself, or a copy with block_size T kept in
// `longer` (models/factory.hpp's with_block_size: an Error with a hint for learned positions).
LanguageModel<float>& model_for_context(LanguageModel<float>& model, int T, std::unique_ptr<LanguageModel<float>>& longer);

}  // namespace mosaic
