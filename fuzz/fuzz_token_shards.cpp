// Fuzzes read_token_shard on arbitrary files: llm.c shards (1024-byte header, magic 20240520)
// and headerless nanoGPT uint16 streams. What it accepts must be exactly the file's tokens.
// Not a fuzzer of write_token_shard (it fsyncs: far too slow per input) or split_shard_paths.
#include <cstring>

#include "fuzz_common.hpp"
#include "io/token_shards.hpp"

using namespace mosaic;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir("token_shards");
  static const std::string path = dir.file("input.bin");
  fuzz::write_file(path, data, size);
  std::vector<uint16_t> tokens;
  if (!fuzz::ok_or_error([&] { tokens = read_token_shard(path); })) return 0;

  int32_t magic = 0;
  if (size >= 4) std::memcpy(&magic, data, 4);
  // llm.c: the tokens follow the header; nanoGPT: the whole file is tokens.
  const size_t offset = magic == kShardMagic ? kShardHeaderBytes : 0;
  FUZZ_ASSERT(size >= offset && tokens.size() * 2 == size - offset, "token count does not match the file size");
  FUZZ_ASSERT(tokens.empty() || std::memcmp(tokens.data(), data + offset, tokens.size() * 2) == 0,
              "tokens differ from the file's bytes");
  const uint16_t top = max_token(tokens);
  for (uint16_t t : tokens) FUZZ_ASSERT(t <= top, "max_token is not the maximum");
  FUZZ_ASSERT(fuzz::ok_or_error([&] { check_tokens_fit(tokens, top + 1, path); }), "max + 1 must fit");
  if (!tokens.empty()) {
    FUZZ_ASSERT(!fuzz::ok_or_error([&] { check_tokens_fit(tokens, top, path); }), "max must not fit");
  }
  return 0;
}
