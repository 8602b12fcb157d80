// Test helper: token shards of uniform random ids, for runs whose data does not matter.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "io/token_shards.hpp"

namespace mosaic::testing {

// dir/train.bin (n tokens below vocab) and dir/val.bin (its first n / 8); creates dir.
inline void write_random_shards(const std::string& dir, size_t n, int vocab, uint64_t seed) {
  std::filesystem::create_directories(dir);
  Rng rng(seed);
  std::vector<uint16_t> tokens(n);
  for (auto& t : tokens) t = static_cast<uint16_t>(rng.below(vocab));
  write_token_shard(dir + "/train.bin", tokens);
  write_token_shard(dir + "/val.bin", std::vector<uint16_t>(tokens.begin(), tokens.begin() + n / 8));
}

}  // namespace mosaic::testing
