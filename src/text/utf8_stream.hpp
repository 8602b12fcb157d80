// Streamed text that is always valid UTF-8: bytes arrive token by token, and a character whose
// bytes are split across tokens is held until it is complete; bytes that cannot be UTF-8
// become U+FFFD, one per maximal ill-formed subpart (the Unicode standard's recommended
// practice, as Python's decode(errors="replace")). Not a tokenizer and not a validator of
// whole files.
#pragma once
#include <string>
#include <string_view>

namespace mosaic {

class Utf8Stream {
 public:
  // The complete, valid text these bytes finish; an incomplete last character waits.
  std::string feed(std::string_view bytes);
  // The end of the stream: a character still incomplete becomes U+FFFD.
  std::string flush();

 private:
  std::string pending_;  // the start of a character whose other bytes have not come yet
};

}  // namespace mosaic
