// Fuzzes Utf8Stream: the same bytes fed whole and fed in fuzzer-chosen pieces must give the
// same output, that output must be valid UTF-8, valid input must pass through unchanged, and
// the result must equal an independent decoder's (maximal-subpart U+FFFD replacement, written
// here from code-point ranges rather than the byte table the stream uses). Not a tokenizer test.
//
// Input layout: byte 0 = k (mod 16), bytes 1..k = piece lengths (each mod 9, 0 = an empty
// feed), cycled over the rest of the input, which is the text.
#include <algorithm>

#include "fuzz_common.hpp"
#include "text/utf8_stream.hpp"

using namespace mosaic;

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Code-point bounds of the encodings with `len` bytes (shortest form only).
constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
constexpr uint32_t kMax[5] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

int length_from_lead(uint8_t b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 0;
}

// Whether the first `k` bytes of a `len`-byte sequence, holding the code-point bits `bits`,
// can still be completed into a well-formed character: some value in the reachable range is
// in [kMin, kMax] and is not a surrogate.
bool completable(uint32_t bits, int k, int len) {
  const int missing = 6 * (len - k);
  const uint32_t lo = bits << missing, hi = (bits << missing) | ((1u << missing) - 1);
  const uint32_t a = std::max(lo, kMin[len]), b = std::min(hi, kMax[len]);
  if (a > b) return false;
  return !(a >= 0xD800 && b <= 0xDFFF);  // only surrogates reachable
}

std::string reference_decode(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t lead = static_cast<uint8_t>(s[i]);
    const int len = length_from_lead(lead);
    if (len == 1) {
      out += static_cast<char>(lead);
      ++i;
      continue;
    }
    uint32_t bits = len ? lead & (0x7Fu >> len) : 0;
    int k = 1;  // longest prefix that can still become a character
    if (len && completable(bits, 1, len)) {
      while (k < len && i + k < s.size()) {
        const uint8_t c = static_cast<uint8_t>(s[i + k]);
        if ((c & 0xC0) != 0x80 || !completable(bits << 6 | (c & 0x3F), k + 1, len)) break;
        bits = bits << 6 | (c & 0x3F);
        ++k;
      }
      if (k == len) {
        out.append(s.substr(i, len));
        i += len;
        continue;
      }
    }
    out += kReplacement;  // a lone bad byte, or a maximal subpart cut short
    i += k;
  }
  return out;
}

// A decoder that changes nothing saw only valid input (any replacement grows or alters the text).
bool valid_utf8(std::string_view s) { return reference_decode(s) == s; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t k = std::min<size_t>(data[0] % 16, size - 1);
  const std::string_view pieces(reinterpret_cast<const char*>(data) + 1, k);
  const std::string_view text(reinterpret_cast<const char*>(data) + 1 + k, size - 1 - k);

  Utf8Stream whole_stream;
  const std::string whole = whole_stream.feed(text) + whole_stream.flush();

  Utf8Stream split_stream;
  std::string split;
  size_t at = 0, empty_feeds = 0;
  for (size_t p = 0; at < text.size(); ++p) {
    size_t n = pieces.empty() ? 1 : static_cast<uint8_t>(pieces[p % pieces.size()]) % 9;
    // Empty feeds are worth testing, but a cycle of nothing but them would never end.
    if (n == 0 && ++empty_feeds >= pieces.size()) n = 1;
    if (n) empty_feeds = 0;
    const std::string piece = split_stream.feed(text.substr(at, n));
    FUZZ_ASSERT(valid_utf8(piece), "a piece of the output is not valid UTF-8");
    split += piece;
    at += std::min(n, text.size() - at);
  }
  split += split_stream.flush();
  FUZZ_ASSERT(split_stream.flush().empty(), "a second flush gave output");

  FUZZ_ASSERT(split == whole, "output depends on how the input is split");
  const std::string expected = reference_decode(text);
  FUZZ_ASSERT(whole == expected, "output differs from the reference decoder");
  FUZZ_ASSERT(valid_utf8(whole), "output is not valid UTF-8");
  if (valid_utf8(text)) {
    FUZZ_ASSERT(whole == text, "valid UTF-8 did not pass through unchanged");
  }
  return 0;
}
