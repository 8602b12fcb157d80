// Streamed text stays valid UTF-8: characters split across tokens come out whole, in any
// split; ill-formed bytes become U+FFFD as the Unicode standard recommends; and the GPT-2
// tokens of text with multi-byte characters, streamed one by one, give the text back.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/rng.hpp"
#include "text/utf8_stream.hpp"
#include "tokenizer_fixture.hpp"

namespace mosaic {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

std::string stream_whole(const std::string& bytes) {
  Utf8Stream s;
  std::string out = s.feed(bytes);
  return out + s.flush();
}

TEST(Utf8Stream, CharactersSplitAnywhereComeOutWhole) {
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC 5 \xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87.";  // é € 😀 中文
  for (size_t a = 0; a <= text.size(); ++a)
    for (size_t b = a; b <= text.size(); ++b) {
      Utf8Stream s;
      std::string out;
      for (const std::string& piece : {text.substr(0, a), text.substr(a, b - a), text.substr(b)}) {
        const std::string got = s.feed(piece);
        EXPECT_EQ(text.compare(out.size(), got.size(), got), 0) << "split " << a << "," << b << ": a prefix only";
        out += got;
      }
      out += s.flush();
      EXPECT_EQ(out, text) << "split " << a << "," << b;
    }
}

TEST(Utf8Stream, IllFormedBytesBecomeOneReplacementPerMaximalSubpart) {
  const struct { std::string in, out; } cases[] = {
      {"a\xFF" "b", "a" + kFffd + "b"},                        // never a UTF-8 byte
      {"\xC0\xAF", kFffd + kFffd},                             // overlong lead
      {"\xED\xA0\x80", kFffd + kFffd + kFffd},                 // a surrogate
      {"\xE2\x82" "x", kFffd + "x"},                           // cut short by an ASCII byte
      {"\xF0\x9F\x98", kFffd},                                 // cut short by the end of the stream
      {"\x80\x80", kFffd + kFffd},                             // stray continuation bytes
      {"\xF4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},     // above U+10FFFF
  };
  for (const auto& c : cases) EXPECT_EQ(stream_whole(c.in), c.out);
}

// Any bytes, split anywhere: the same text as fed whole.
TEST(Utf8Stream, OutputDoesNotDependOnTheSplit) {
  Rng rng(4);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes(1 + rng.below(24), '\0');
    for (char& c : bytes) c = static_cast<char>(rng.below(3) ? 0x80 + rng.below(0x80) : rng.below(256));
    Utf8Stream s;
    std::string out;
    for (size_t i = 0; i < bytes.size();) {
      const size_t n = 1 + rng.below(4);
      out += s.feed(bytes.substr(i, n));
      i += n;
    }
    EXPECT_EQ(out + s.flush(), stream_whole(bytes)) << trial;
  }
}

TEST(Utf8Stream, GptTokensThatSplitCharactersStreamCleanly) {
  const Gpt2Tokenizer* tok = testing::shared_tokenizer();
  if (!tok) GTEST_SKIP() << testing::kTokenizerSkipHint;
  const std::string text = "Na\xC3\xAFve r\xC3\xA9sum\xC3\xA9s \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E";
  int split = 0;
  Utf8Stream s;
  std::string out;
  for (int id : tok->encode(text)) {
    const std::string bytes = tok->token_bytes(id);
    const std::string got = s.feed(bytes);
    split += got != bytes;
    out += got;
  }
  EXPECT_GT(split, 0) << "the text must hold tokens that split a character";
  EXPECT_EQ(out + s.flush(), text);
}

}  // namespace
}  // namespace mosaic
