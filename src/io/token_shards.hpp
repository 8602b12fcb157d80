// Token shards on disk: llm.c's format (256 little-endian int32 header: magic 20240520,
// version 1, token count; then `count` uint16 tokens) and nanoGPT's headerless uint16 .bin.
// Not a data loader (no batching, no memory mapping) and not llm.c's version 2 (uint32 tokens).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mosaic {

inline constexpr int32_t kShardMagic = 20240520;
inline constexpr int32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderInts = 256;
inline constexpr size_t kShardHeaderBytes = kShardHeaderInts * sizeof(int32_t);  // 1024

// Writes an llm.c shard atomically (temp file, fsync, rename): a reader sees the old file or
// the complete new one. Throws Error when there are more than INT32_MAX tokens (the header
// stores the count as int32) or when the write fails.
void write_token_shard(const std::string& path, std::span<const uint16_t> tokens);

// Reads an llm.c shard, or a headerless nanoGPT uint16 file when the first int32 is not the
// magic. A file that starts with the magic must have version 1 and exactly
// 1024 + 2 * count bytes. Throws Error naming the path (missing, empty, truncated, wrong
// version, odd length, ...).
std::vector<uint16_t> read_token_shard(const std::string& path);

// The shards of one split ("train", "val") in `dir`: dir/<split>.bin (mosaic prepare's
// default), or else every dir/*_<split>_*.bin (llm.c's names, e.g. tinystories_train_000001.bin,
// and prepare --shard-size's), sorted by name. Empty when there is none; Error with a hint
// when both kinds are there (one of them is stale).
std::vector<std::string> split_shard_paths(const std::string& dir, const std::string& split);

// The largest id in `tokens` (0 when empty).
uint16_t max_token(std::span<const uint16_t> tokens);

// Throws Error("token id X in PATH is outside the model's vocabulary of V") when some id is
// >= vocab_size; X is the largest such id. Checking is the caller's job: the reader does not
// know the model.
void check_tokens_fit(std::span<const uint16_t> tokens, int vocab_size, const std::string& path);

}  // namespace mosaic
