// Window sampling: one Rng draw per row, in row order.
#include "train/batch_sampler.hpp"

#include <cassert>

namespace mosaic {

void sample_batch(const std::vector<uint16_t>& tokens, int B, int T, Rng& rng, Batch& batch) {
  assert(tokens.size() > static_cast<size_t>(T));
  batch.B = B;
  batch.T = T;
  batch.idx.resize(static_cast<size_t>(B) * T);
  batch.targets.resize(static_cast<size_t>(B) * T);
  const uint64_t starts = tokens.size() - T;  // window [s, s + T] must fit
  for (int b = 0; b < B; ++b) {
    const size_t s = rng.below(starts);
    for (int t = 0; t < T; ++t) {
      batch.idx[static_cast<size_t>(b) * T + t] = tokens[s + t];
      batch.targets[static_cast<size_t>(b) * T + t] = tokens[s + t + 1];
    }
  }
}

TokenWindows::TokenWindows(std::vector<uint16_t> train, const std::vector<uint16_t>& val, int B, int T,
                           int val_batches, uint64_t val_seed)
    : train_(std::move(train)), val_tokens_(val.size()), B_(B), T_(T), val_(val_batches) {
  Rng rng(val_seed);
  for (auto& batch : val_) sample_batch(val, B, T, rng, batch);
}

void TokenWindows::train_batch(int64_t, int, Rng& rng, Batch& out) { sample_batch(train_, B_, T_, rng, out); }

std::string TokenWindows::describe() const {
  return std::to_string(train_.size()) + " train / " + std::to_string(val_tokens_) + " val tokens";
}

}  // namespace mosaic
