// Language-model evaluation (`mosaic eval`): the mean cross-entropy of a model over a token
// stream, cut into windows of `context` tokens, with the loss at each position of the window
// (the paper's figure 10: does the loss keep falling with position?). Not a trainer's
// validation (train/ samples random batches); here every window is taken, in order, once.
// Shapes: tokens (n); a window is tokens [k T, k T + T] (T inputs, T targets shifted by one).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "models/language_model.hpp"

namespace mosaic {

// The tokens of one input: an llm.c / nanoGPT shard (.bin), or text in any format `mosaic
// prepare` reads (each document after <|endoftext|>, as prepare writes them). Error naming the
// file on unreadable input.
class Gpt2Tokenizer;
std::vector<uint16_t> read_eval_tokens(const std::string& path, const Gpt2Tokenizer& tokenizer);
// Every input's tokens, one after another (`mosaic eval` and `mosaic attention` take several).
std::vector<uint16_t> read_eval_tokens(std::span<const std::string> paths, const Gpt2Tokenizer& tokenizer);

// token_bytes for evaluate_tokens: the bytes each GPT-2 token stands for (0 past its vocabulary,
// e.g. the padding ids of a 50304 vocabulary).
std::function<double(int)> gpt2_token_bytes(const Gpt2Tokenizer& tokenizer);

struct EvalOptions {
  int context = 0;          // T; 0: the model's block_size
  int batch = 8;            // windows per forward
  int64_t max_windows = 0;  // 0: every window
  // Windows in a row over the stream (false), or one window per document (true): the first T
  // targets of each document, starting at its <|endoftext|> (document_start), so that position
  // t is t tokens into a document; a document shorter than the window scores only its own
  // tokens (its <|endoftext|> at the end included).
  bool documents = false;
  int document_start = 50256;
  // Keep every scored target's loss (EvalResult::window_losses), for paired comparisons.
  bool keep_window_losses = false;
};

struct EvalResult {
  int context = 0;
  int64_t windows = 0, tokens_scored = 0, tokens_left_out = 0;  // left out: outside the windows evaluated
  double mean_loss = 0;        // nats per token
  double perplexity = 0;       // exp(mean_loss)
  double bytes = 0;            // UTF-8 bytes of the scored targets
  double bits_per_byte = 0;    // total nats / ln 2 / bytes
  std::vector<double> position_loss, position_stderr;  // (T): mean over windows, its standard error
  std::vector<int64_t> position_count;                 // (T): windows scored at that position
  // (windows, T) when EvalOptions::keep_window_losses: each target's loss, NaN past the end of
  // a short document's window.
  std::vector<float> window_losses;
  double seconds = 0;
};

// Evaluates `model` on `tokens` (ids below its vocabulary). A Memory Mosaic runs at any
// context (on a copy with block_size raised when longer than its own); a GPT's context must
// fit its block_size (Error with a hint). token_bytes(id) gives the bytes a target stands for
// (for bits per byte). progress(windows done, windows) is called after each batch.
EvalResult evaluate_tokens(LanguageModel<float>& model, std::span<const uint16_t> tokens, const EvalOptions& options,
                           const std::function<double(int)>& token_bytes,
                           const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace mosaic
