// Where a training run's batches come from. BatchSource is the trainer's view; TokenWindows is
// nanoGPT's get_batch over token shards (each row a window at a uniform offset, targets the
// inputs shifted by one); RegBench feeds whole task sequences (experiments/regbench/). A
// source's only training state is the Rng the trainer hands it, saved in the train-state file,
// so a resumed run continues the data stream exactly.
// Shapes: idx, targets (B, T) int32; -1 targets are ignored by the loss.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"

namespace mosaic {

struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> idx, targets;
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Micro-batch `micro` of optimizer step `step`.
  virtual void train_batch(int64_t step, int micro, Rng& rng, Batch& out) = 0;
  // The validation batches, the same at every evaluation.
  virtual const std::vector<Batch>& val_set() const = 0;
  // For the run's first line, e.g. "1200000 train / 40000 val tokens".
  virtual std::string describe() const = 0;
};

// Fills batch with B windows of T + 1 tokens from tokens (which must hold more than T).
void sample_batch(const std::vector<uint16_t>& tokens, int B, int T, Rng& rng, Batch& batch);

class TokenWindows : public BatchSource {
 public:
  // val_batches windows of the val tokens drawn once from val_seed.
  TokenWindows(std::vector<uint16_t> train, const std::vector<uint16_t>& val, int B, int T, int val_batches,
               uint64_t val_seed);
  void train_batch(int64_t step, int micro, Rng& rng, Batch& out) override;
  const std::vector<Batch>& val_set() const override { return val_; }
  std::string describe() const override;

 private:
  std::vector<uint16_t> train_;
  size_t val_tokens_;
  int B_, T_;
  std::vector<Batch> val_;
};

}  // namespace mosaic
