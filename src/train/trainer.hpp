// The training loop: batches from token shards, forward/backward with gradient accumulation,
// clipping, AdamW on the warmup+cosine schedule, validation, samples, JSONL metrics, atomic
// checkpoints, exact resume, and a clean stop on SIGINT/SIGTERM or a non-finite loss.
// Not the CLI (cli/cmd_train.cpp) and not the model (models/).
#pragma once
#include <cstdint>
#include <functional>

#include <nlohmann/json_fwd.hpp>

#include "train/batch_sampler.hpp"
#include "train/train_config.hpp"

namespace mosaic {

struct TrainResult {
  int64_t steps = 0;          // optimizer steps done in total (including before a resume)
  int64_t steps_run = 0;      // of those, the steps of this call (0: the run had already finished)
  double last_train_loss = 0;
  double last_val_loss = 0;   // NaN when no evaluation ran
  bool interrupted = false;   // stopped by a signal (a checkpoint was written)
};

// resume: continue from the newest complete checkpoint in config.out_dir (its model config
// wins; the trainer keys come from config). Without resume, an out_dir that already holds
// checkpoints is an Error (nothing is overwritten).
// source: where batches come from (train/batch_sampler.hpp); null: windows of the token shards
// in config.data_dir.
// on_record: sees every record of metrics.jsonl as it is written (a step's loss every
// log_interval steps, each validation loss; rank 0), e.g. the Python module's progress callback.
// What it throws ends the run (no checkpoint) and leaves train().
TrainResult train(TrainConfig config, bool resume, BatchSource* source = nullptr,
                  const std::function<void(const nlohmann::json&)>& on_record = {});

}  // namespace mosaic
