// Corpus preparation (`mosaic prepare`): documents from TinyStories-style text, .json or .jsonl
// -> GPT-2 tokens, EOT (50256) before each document -> OUTDIR/{train.bin, val.bin, meta.json}.
// Not the tokenizer (text/gpt2_tokenizer.hpp), not the shard format (io/token_shards.hpp), not a loader.
#pragma once
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mosaic {

// How an input file is split into documents, chosen by its extension:
//   .json           an array of objects, each with a "story" or "text" string field;
//   .jsonl/.ndjson  one such object per line (blank lines are skipped);
//   anything else   plain text in which a line that is exactly "<|endoftext|>" (a trailing
//                   '\r' allowed) ends a document: the layout of TinyStories-*.txt.
// Compressed or binary extensions (.gz, .zst, .bin, .parquet, ...) are rejected with a hint.
enum class InputFormat { kText, kJsonArray, kJsonLines };
InputFormat input_format_of(const std::string& path);

// `text` without leading and trailing ASCII whitespace (" \t\n\r\v\f"), as llm.c's
// TinyStories script does with str.strip(): for the .txt layout this removes the newline
// before the separator line. Whitespace inside the document is kept.
std::string_view strip_document(std::string_view text);

// Streams the documents of one input file, stripped; empty documents are skipped (and
// counted). Throws Error naming the file (and the line or element) on unreadable input.
class DocumentReader {
 public:
  explicit DocumentReader(const std::string& path);
  ~DocumentReader();
  DocumentReader(const DocumentReader&) = delete;
  DocumentReader& operator=(const DocumentReader&) = delete;

  // Sets `doc` to the next non-empty document; false at the end of the file.
  bool next(std::string& doc);

  const std::string& path() const { return path_; }
  InputFormat format() const { return format_; }
  uint64_t bytes_read() const { return bytes_read_; }     // input consumed so far
  size_t empty_skipped() const { return empty_skipped_; }  // documents that stripped to ""

 private:
  bool next_text(std::string& doc);
  bool next_json_line(std::string& doc);
  bool next_json_element(std::string& doc);

  std::string path_;
  InputFormat format_;
  std::ifstream in_;
  uint64_t bytes_read_ = 0;
  size_t empty_skipped_ = 0;
  size_t line_ = 0;     // lines read so far (text and .jsonl)
  bool at_end_ = false;
  struct JsonArray;     // the parsed .json file and the next element's index
  std::unique_ptr<JsonArray> json_;
};

// Every document of `path`, in order (a convenience over DocumentReader).
std::vector<std::string> read_documents(const std::string& path);

// The --val-frac rule: document `index` (0-based, counted over all inputs in order) is held
// out for validation when floor((index + 1) * frac) > floor(index * frac). That spreads
// floor(n * frac) validation documents evenly (every 20th for 0.05) and does not depend on
// how many documents follow. When it picks none (n * frac < 1), prepare_corpus moves the last
// document to validation instead.
bool is_held_out(size_t index, double val_frac);

// Entropy in nats of the tokens' empirical unigram distribution: the cross-entropy loss of a
// model that predicts every token from its frequency alone. 0 for empty input.
double unigram_entropy_nats(std::span<const uint16_t> tokens);

struct PrepareOptions {
  std::vector<std::string> inputs;      // training text, in order
  std::vector<std::string> val_inputs;  // validation text; empty: hold out val_frac of inputs
  double val_frac = 0.05;               // in (0, 1); used only when val_inputs is empty
  std::string out_dir;                  // created when missing
  std::string tokenizer_dir;            // empty: Gpt2Tokenizer::default_dir()
  int threads = 0;                      // OpenMP threads for tokenising; 0: OpenMP's default
  bool progress = true;                 // progress lines on stderr
  int64_t shard_tokens = 0;             // 0: OUTDIR/train.bin, val.bin; else llm.c-style shards of
                                        // this many tokens, OUTDIR/mosaic_{train,val}_000000.bin, ...
};

struct PrepareStats {
  size_t train_documents = 0, val_documents = 0;
  size_t train_tokens = 0, val_tokens = 0;  // EOTs included
  size_t empty_skipped = 0;
  uint64_t input_bytes = 0;
  double unigram_entropy_nats = 0;  // of the training tokens
  double seconds = 0;               // reading + tokenising + writing (not loading the tokenizer)
  std::vector<std::string> train_paths, val_paths;  // the shards written, in order
  std::string meta_path;
};

// Reads, tokenises (OpenMP over documents; the output is identical for any thread count) and
// writes OUTDIR/train.bin and OUTDIR/val.bin (llm.c shards; or numbered shards, see
// shard_tokens, after removing shards of either naming left by an earlier run) and then
// OUTDIR/meta.json, each atomically. meta.json holds tokenizer, vocab_size, eot, train/val tokens and documents,
// unigram_entropy_nats, the split rule and the sources. Throws Error with a hint on bad input,
// options, or when either split would be empty.
PrepareStats prepare_corpus(const PrepareOptions& options);

}  // namespace mosaic
