// Random training windows from a token stream (nanoGPT's get_batch): each row starts at a
// uniform offset, targets are the inputs shifted by one. Its only state is the Rng it is
// handed, so the train-state file's data RNG is the loader's position.
// Shapes: idx, targets (B, T) int32.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.hpp"

namespace mosaic {

struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> idx, targets;
};

// Fills batch with B windows of T + 1 tokens from tokens (which must hold more than T).
void sample_batch(const std::vector<uint16_t>& tokens, int B, int T, Rng& rng, Batch& batch);

}  // namespace mosaic
