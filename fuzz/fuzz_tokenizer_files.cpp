// Fuzzes Gpt2Tokenizer::load on arbitrary encoder.json / vocab.bpe files, and encodes text
// with whatever it accepts (decode(encode(text)) must give the text back: every merge joins
// two tokens into the token of their concatenated bytes, so any accepted pair of files is
// lossless). Not the BPE fuzzer on the real vocabulary: that is fuzz_bpe.
//
// Input layout, split on the line "@@@":
//   <encoder.json> \n@@@\n <vocab.bpe> [ \n@@@\n <text to encode> ]
// An encoder part of exactly "@real" means GPT-2's own encoder.json: a fuzzed one can never
// reach vocab.bpe, since load() wants <|endoftext|> at id 50256, i.e. 50257 entries.
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "fuzz_common.hpp"
#include "text/gpt2_tokenizer.hpp"

using namespace mosaic;

namespace {

constexpr std::string_view kSeparator = "\n@@@\n";

std::string real_tokenizer_dir() {
  const char* env = std::getenv("MOSAIC_TOKENIZER_DIR");
  return env && *env ? env : MOSAIC_FUZZ_TOKENIZER_DIR;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir fuzzed("tokenizer_files");   // fuzzed encoder.json + vocab.bpe
  static fuzz::ScratchDir with_real("tokenizer_real");  // real encoder.json + fuzzed vocab.bpe
  static const bool real_copied = [] {
    std::filesystem::copy_file(real_tokenizer_dir() + "/encoder.json", with_real.file("encoder.json"),
                               std::filesystem::copy_options::overwrite_existing);
    return true;
  }();
  (void)real_copied;

  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t sep1 = in.find(kSeparator);
  const std::string_view enc = in.substr(0, sep1);
  std::string_view bpe, text = "Hello world! It's 2024 \xE2\x80\x94 caf\xC3\xA9 <|endoftext|> \xFF\xFE tail";
  if (sep1 != std::string_view::npos) {
    bpe = in.substr(sep1 + kSeparator.size());
    if (const size_t sep2 = bpe.find(kSeparator); sep2 != std::string_view::npos) {
      text = bpe.substr(sep2 + kSeparator.size());
      bpe = bpe.substr(0, sep2);
    }
  }

  const bool use_real = enc == "@real";
  const fuzz::ScratchDir& dir = use_real ? with_real : fuzzed;
  if (!use_real) fuzz::write_file(dir.file("encoder.json"), enc);
  // No vocab.bpe at all when the input has no separator: the missing-file path is input too.
  if (sep1 != std::string_view::npos) fuzz::write_file(dir.file("vocab.bpe"), bpe);
  else fuzz::remove_file(dir.file("vocab.bpe"));

  std::optional<Gpt2Tokenizer> tok;
  if (!fuzz::ok_or_error([&] { tok.emplace(Gpt2Tokenizer::load(dir.path().string())); })) return 0;

  FUZZ_ASSERT(tok->vocab_size() > tok->eot(), "an accepted vocabulary must hold <|endoftext|>");
  std::vector<int> ids;
  try {
    ids = tok->encode(text);
  } catch (const Error& e) {
    FUZZ_ASSERT(false, std::string("encode threw on text: ") + e.what());
  }
  for (int id : ids) FUZZ_ASSERT(id >= 0 && id < tok->vocab_size(), "encode gave an id out of range");
  FUZZ_ASSERT(tok->decode(ids) == text, "decode(encode(text)) != text");
  return 0;
}
