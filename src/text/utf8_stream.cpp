// UTF-8 by the table of well-formed byte sequences (Unicode 15, table 3-7).
#include "text/utf8_stream.hpp"

#include <cstdint>

namespace mosaic {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Bytes in a sequence led by b (0: b cannot lead one).
int sequence_length(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

// Whether c may stand at position i (>= 1) of a sequence led by `lead`.
bool continues(uint8_t lead, int i, uint8_t c) {
  if (i == 1) {  // the second byte's range depends on the lead (no overlongs, surrogates, > U+10FFFF)
    if (lead == 0xE0) return c >= 0xA0 && c <= 0xBF;
    if (lead == 0xED) return c >= 0x80 && c <= 0x9F;
    if (lead == 0xF0) return c >= 0x90 && c <= 0xBF;
    if (lead == 0xF4) return c >= 0x80 && c <= 0x8F;
  }
  return c >= 0x80 && c <= 0xBF;
}

}  // namespace

std::string Utf8Stream::feed(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t i = 0;
  const size_t n = pending_.size();
  while (i < n) {
    const uint8_t lead = static_cast<uint8_t>(pending_[i]);
    const int len = sequence_length(lead);
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    int ok = 1;  // bytes of the sequence seen and well formed so far
    while (ok < len && i + ok < n && continues(lead, ok, static_cast<uint8_t>(pending_[i + ok]))) ++ok;
    if (ok == len) {
      out.append(pending_, i, len);
      i += len;
    } else if (i + ok == n) {
      break;  // well formed so far, the rest has not come yet
    } else {
      out += kReplacement;  // the maximal subpart; the offending byte starts anew
      i += ok;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8Stream::flush() {
  if (pending_.empty()) return {};
  pending_.clear();
  return std::string(kReplacement);
}

}  // namespace mosaic
