// llm.c token shards and headerless nanoGPT .bin files: write (atomic) and read (validated).
// Not a data loader: whole files in and out; the format rules are in token_shards.hpp.
#include "io/token_shards.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace mosaic {

namespace {

const char* const kRemakeHint = "re-run mosaic prepare to make the shard again";

int32_t load_le_i32(const unsigned char* p) {
  const uint32_t u = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
  return static_cast<int32_t>(u);
}

void store_le_i32(unsigned char* p, int32_t v) {
  const auto u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(u >> (8 * i));
}

// The file holds little-endian uint16; swap in place on a big-endian host.
void le16_to_native(std::span<uint16_t> v) {
  if constexpr (std::endian::native == std::endian::big) {
    for (auto& x : v) x = static_cast<uint16_t>(x >> 8 | x << 8);
  }
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// Reads exactly n bytes at the current position, or throws.
void read_exact(std::FILE* f, void* dst, size_t n, const std::string& path) {
  const size_t got = std::fread(dst, 1, n, f);
  if (got == n) return;
  const int err = std::ferror(f) ? errno : 0;
  throw Error("cannot read " + path + (err ? std::string(": ") + std::strerror(err)
                                           : ": it ended early (did it change while being read?)"),
              "check the file and the disk it is on");
}

}  // namespace

void write_token_shard(const std::string& path, std::span<const uint16_t> tokens) {
  MOSAIC_CHECK(tokens.size() <= static_cast<size_t>(INT32_MAX),
               "cannot write " + path + ": " + std::to_string(tokens.size()) +
                   " tokens exceed the shard format's limit of 2^31-1",
               "split the corpus into several inputs and shards");
  unsigned char header[kShardHeaderBytes] = {};
  store_le_i32(header + 0, kShardMagic);
  store_le_i32(header + 4, kShardVersion);
  store_le_i32(header + 8, static_cast<int32_t>(tokens.size()));

  AtomicFileWriter out(path);
  out.write(std::as_bytes(std::span<const unsigned char>(header)));
  if constexpr (std::endian::native == std::endian::little) {
    out.write(std::as_bytes(tokens));
  } else {
    std::vector<uint16_t> chunk;
    for (size_t i = 0; i < tokens.size(); i += 1 << 16) {
      const size_t n = std::min<size_t>(1 << 16, tokens.size() - i);
      chunk.assign(tokens.begin() + i, tokens.begin() + i + n);
      le16_to_native(chunk);  // the swap is its own inverse
      out.write(std::as_bytes(std::span<const uint16_t>(chunk)));
    }
  }
  out.commit();
}

std::vector<uint16_t> read_token_shard(const std::string& path) {
  std::error_code ec;  // before opening: opening a FIFO would wait for a writer
  MOSAIC_CHECK(!std::filesystem::exists(path, ec) || std::filesystem::is_regular_file(path, ec),
               "cannot read token shard " + path + ": not a regular file",
               "pass a .bin file written by mosaic prepare, llm.c or nanoGPT");
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    const int err = errno;
    throw Error("cannot open token shard " + path + ": " + std::strerror(err),
                err == ENOENT ? "check the path, or run mosaic prepare to make " + path
                              : "check read permission on " + path);
  }
  struct stat st {};
  MOSAIC_CHECK(::fstat(::fileno(f.get()), &st) == 0 && S_ISREG(st.st_mode),
               "cannot read token shard " + path + ": not a regular file",
               "pass a .bin file written by mosaic prepare, llm.c or nanoGPT");
  const auto size = static_cast<uint64_t>(st.st_size);
  MOSAIC_CHECK(size > 0, "token shard " + path + " is empty", kRemakeHint);

  // The first int32 decides the format: the magic means llm.c, anything else nanoGPT.
  unsigned char first[4] = {};
  const size_t first_n = static_cast<size_t>(std::min<uint64_t>(size, 4));
  read_exact(f.get(), first, first_n, path);
  const bool has_magic = first_n == 4 && load_le_i32(first) == kShardMagic;
  std::vector<uint16_t> tokens;

  if (has_magic) {
    MOSAIC_CHECK(size >= kShardHeaderBytes,
                 "token shard " + path + " is truncated: " + std::to_string(size) +
                     " bytes, less than its 1024-byte header",
                 kRemakeHint);
    unsigned char header[kShardHeaderBytes];
    std::memcpy(header, first, 4);
    read_exact(f.get(), header + 4, kShardHeaderBytes - 4, path);
    const int32_t version = load_le_i32(header + 4);
    const int32_t count = load_le_i32(header + 8);
    MOSAIC_CHECK(version == kShardVersion,
                 "token shard " + path + " has version " + std::to_string(version) +
                     "; only version 1 (uint16 tokens) is supported",
                 std::string(version == 2 ? "version 2 holds uint32 tokens (llm.c's llama 3 shards); " : "") +
                     kRemakeHint + " with the GPT-2 tokenizer");
    MOSAIC_CHECK(count >= 0, "token shard " + path + " has a negative token count " + std::to_string(count),
                 kRemakeHint);
    const uint64_t expected = kShardHeaderBytes + 2 * static_cast<uint64_t>(count);
    MOSAIC_CHECK(size == expected,
                 "token shard " + path + (size < expected ? " is truncated" : " has trailing bytes") +
                     ": its header says " + std::to_string(count) + " tokens (" + std::to_string(expected) +
                     " bytes) but the file has " + std::to_string(size) + " bytes",
                 kRemakeHint);
    tokens.resize(static_cast<size_t>(count));
    read_exact(f.get(), tokens.data(), tokens.size() * 2, path);
  } else {
    // nanoGPT: a bare stream of little-endian uint16 tokens.
    MOSAIC_CHECK(size % 2 == 0,
                 "token file " + path + " has no llm.c header and an odd length (" + std::to_string(size) +
                     " bytes), so it is not a stream of uint16 tokens",
                 "the file is truncated or not a token file; " + std::string(kRemakeHint));
    tokens.resize(static_cast<size_t>(size / 2));
    std::memcpy(tokens.data(), first, first_n);
    if (size > first_n) {
      read_exact(f.get(), reinterpret_cast<unsigned char*>(tokens.data()) + first_n, size - first_n, path);
    }
    // An llm.c header (version 1 and a count that matches the size) under another magic is a
    // damaged shard, not a stream of tokens that happens to start that way.
    if (size >= kShardHeaderBytes) {
      const auto* bytes = reinterpret_cast<const unsigned char*>(tokens.data());
      const int64_t count = load_le_i32(bytes + 8);
      MOSAIC_CHECK(!(load_le_i32(bytes + 4) == kShardVersion && count >= 0 &&
                     kShardHeaderBytes + 2 * static_cast<uint64_t>(count) == size),
                   "token shard " + path + " has an llm.c header with the magic " + std::to_string(load_le_i32(bytes)) +
                       " instead of " + std::to_string(kShardMagic),
                   kRemakeHint);
    }
  }
  le16_to_native(tokens);
  return tokens;
}

std::vector<std::string> split_shard_paths(const std::string& dir, const std::string& split) {
  namespace fs = std::filesystem;
  std::vector<std::string> numbered;
  std::error_code ec;
  const std::string infix = "_" + split + "_";
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file(ec) && name.ends_with(".bin") && name.find(infix) != std::string::npos)
      numbered.push_back(entry.path().string());
  }
  std::sort(numbered.begin(), numbered.end());
  const fs::path single = fs::path(dir) / (split + ".bin");
  if (!fs::exists(single, ec)) return numbered;
  MOSAIC_CHECK(numbered.empty(),
               dir + " holds both " + single.filename().string() + " and " + std::to_string(numbered.size()) + " *" +
                   infix + "*.bin shards",
               "one of them is left from an earlier run: remove it, or prepare into an empty folder");
  return {single.string()};
}

uint16_t max_token(std::span<const uint16_t> tokens) {
  return tokens.empty() ? uint16_t{0} : *std::max_element(tokens.begin(), tokens.end());
}

void check_tokens_fit(std::span<const uint16_t> tokens, int vocab_size, const std::string& path) {
  const uint16_t top = max_token(tokens);
  MOSAIC_CHECK(tokens.empty() || static_cast<int>(top) < vocab_size,
               "token id " + std::to_string(top) + " in " + path + " is outside the model's vocabulary of " +
                   std::to_string(vocab_size),
               "the shard was made with another tokenizer");
}

}  // namespace mosaic
