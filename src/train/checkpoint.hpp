// Checkpoints of a run: the model file (safetensors with the reference's state_dict names,
// loadable by PyTorch with strict=True) and the train-state file (AdamW moments, step, RNG
// streams, which are also the data loader's position, and the number of processes that
// drew from them). Both written atomically; a checkpoint
// counts only once its state file exists, so a run killed mid-write resumes from the previous one.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/model_io.hpp"
#include "models/language_model.hpp"
#include "train/adamw.hpp"
#include "train/train_config.hpp"

namespace mosaic {

struct TrainState {
  int64_t step = 0;          // optimizer steps done
  int64_t tokens_seen = 0;
  std::array<uint64_t, 4> data_rng{}, sample_rng{};
  int64_t world_size = 1;    // processes that trained it (mpirun -np): the data stream depends on it
};

void save_train_state(const std::string& path, const TrainState& state, AdamW<float>& optimizer,
                      const ParamTable<float>& params, const TrainConfig& config);
void load_train_state(const std::string& path, TrainState& state, AdamW<float>& optimizer,
                      const ParamTable<float>& params);

// Deletes all but the newest `keep` complete checkpoints.
void prune_checkpoints(const std::string& out_dir, int keep);
}  // namespace mosaic
