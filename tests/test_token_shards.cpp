// Tests of io/token_shards: llm.c shard round trips (byte layout checked by hand), headerless
// nanoGPT files, and one mosaic::Error for every malformed file. Not a test of mosaic prepare.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/token_shards.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

using mosaic::testing::TempDir;

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put_i32(std::vector<unsigned char>& b, size_t at, int32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<unsigned char>(static_cast<uint32_t>(v) >> (8 * i));
}

// An llm.c header claiming `count` tokens with `version`, followed by `tokens_present` tokens.
std::vector<unsigned char> shard_bytes(int32_t version, int32_t count, size_t tokens_present) {
  std::vector<unsigned char> b(1024 + 2 * tokens_present, 0);
  put_i32(b, 0, 20240520);
  put_i32(b, 4, version);
  put_i32(b, 8, count);
  for (size_t i = 0; i < tokens_present; ++i) b[1024 + 2 * i] = static_cast<unsigned char>(i + 1);
  return b;
}

std::vector<uint16_t> random_tokens(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, 65535);
  std::vector<uint16_t> v(n);
  for (auto& t : v) t = static_cast<uint16_t>(dist(rng));
  return v;
}

// Runs `read_token_shard(path)` and returns the Error's message (empty when nothing was thrown).
std::string read_error(const std::string& path) {
  try {
    mosaic::read_token_shard(path);
  } catch (const mosaic::Error& e) {
    EXPECT_FALSE(e.hint.empty()) << "no hint for: " << e.what();
    return e.what();
  }
  return "";
}

}  // namespace

using mosaic::read_token_shard;
using mosaic::write_token_shard;

TEST(TokenShards, RoundTripAndByteLayout) {
  TempDir dir;
  const auto tokens = random_tokens(5000, 1);
  const std::string path = dir.file("a.bin");
  write_token_shard(path, tokens);
  EXPECT_EQ(read_token_shard(path), tokens);

  const auto b = read_bytes(path);
  ASSERT_EQ(b.size(), 1024 + 2 * tokens.size());
  int32_t header[3];
  std::memcpy(header, b.data(), sizeof header);  // the test host is little-endian (x86, arm64)
  EXPECT_EQ(header[0], 20240520);
  EXPECT_EQ(header[1], 1);
  EXPECT_EQ(header[2], 5000);
  for (size_t i = 12; i < 1024; ++i) ASSERT_EQ(b[i], 0) << "header byte " << i;
  EXPECT_EQ(b[1024] | b[1025] << 8, tokens[0]);
  EXPECT_EQ(b[b.size() - 2] | b[b.size() - 1] << 8, tokens.back());
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    EXPECT_EQ(entry.path().filename(), "a.bin") << "temp file left behind";
  }
}

TEST(TokenShards, EmptyShardAndOverwrite) {
  TempDir dir;
  const std::string path = dir.file("e.bin");
  write_token_shard(path, random_tokens(10, 2));
  write_token_shard(path, {});
  EXPECT_EQ(fs::file_size(path), 1024u);
  EXPECT_TRUE(read_token_shard(path).empty());
}

TEST(TokenShards, ReadsHeaderlessNanoGptFiles) {
  TempDir dir;
  auto tokens = random_tokens(777, 3);
  tokens[0] = 1, tokens[1] = 2;  // the first int32 must not be the magic
  std::vector<unsigned char> b;
  for (uint16_t t : tokens) b.push_back(static_cast<unsigned char>(t)), b.push_back(static_cast<unsigned char>(t >> 8));
  write_bytes(dir.file("n.bin"), b);
  EXPECT_EQ(read_token_shard(dir.file("n.bin")), tokens);

  write_bytes(dir.file("one.bin"), {0x34, 0x12});  // shorter than an int32: one token
  EXPECT_EQ(read_token_shard(dir.file("one.bin")), std::vector<uint16_t>{0x1234});
}

TEST(TokenShards, MalformedFilesThrowNamingThePath) {
  TempDir dir;
  struct Case {
    std::string name;
    std::vector<unsigned char> bytes;
    std::string expect;  // a fragment of the message
  };
  auto short_header = shard_bytes(1, 0, 0);
  short_header.resize(100);
  std::vector<Case> cases = {
      {"empty.bin", {}, "is empty"},
      {"odd.bin", {1, 2, 3, 4, 5}, "odd length"},
      {"odd3.bin", {1, 2, 3}, "odd length"},
      {"short_header.bin", short_header, "less than its 1024-byte header"},
      {"truncated.bin", shard_bytes(1, 10, 9), "is truncated"},
      {"trailing.bin", shard_bytes(1, 10, 11), "trailing bytes"},
      {"version2.bin", shard_bytes(2, 10, 10), "version 2"},
      {"version7.bin", shard_bytes(7, 10, 10), "version 7"},
      {"negative.bin", shard_bytes(1, -5, 0), "negative token count"},
  };
  for (const auto& c : cases) {
    const std::string path = dir.file(c.name);
    write_bytes(path, c.bytes);
    const std::string what = read_error(path);
    EXPECT_NE(what.find(c.expect), std::string::npos) << c.name << ": " << what;
    EXPECT_NE(what.find(path), std::string::npos) << c.name << ": " << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << c.name << ": one line please: " << what;
  }
  const std::string missing = dir.file("missing.bin");
  const std::string what = read_error(missing);
  EXPECT_NE(what.find(missing), std::string::npos) << what;
  EXPECT_NE(read_error(dir.path.string()).find("not a regular file"), std::string::npos);
}

TEST(TokenShards, CheckTokensFit) {
  const std::vector<uint16_t> tokens = {5, 50256, 3, 50300, 7};
  EXPECT_EQ(mosaic::max_token(tokens), 50300);
  EXPECT_EQ(mosaic::max_token({}), 0);
  EXPECT_NO_THROW(mosaic::check_tokens_fit(tokens, 50304, "x.bin"));
  try {
    mosaic::check_tokens_fit(tokens, 50257, "data/x.bin");
    FAIL() << "no throw";
  } catch (const mosaic::Error& e) {
    EXPECT_STREQ(e.what(), "token id 50300 in data/x.bin is outside the model's vocabulary of 50257");
    EXPECT_EQ(e.hint, "the shard was made with another tokenizer");
  }
  EXPECT_NO_THROW(mosaic::check_tokens_fit({}, 1, "empty.bin"));
}
