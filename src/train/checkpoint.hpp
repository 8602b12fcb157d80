// Checkpoints of a run: the model file (safetensors with the reference's state_dict names,
// loadable by PyTorch with strict=True) and the train-state file (AdamW moments, step, RNG
// streams, which are also the data loader's position). Both written atomically; a checkpoint
// counts only once its state file exists, so a run killed mid-write resumes from the previous one.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/language_model.hpp"
#include "train/adamw.hpp"
#include "train/train_config.hpp"

namespace mosaic {

void save_model(const std::string& path, const LanguageModel<float>& model,
                const std::map<std::string, std::string>& extra_metadata = {});
// Loads a model file written by save_model (or any safetensors with arch/config metadata).
std::unique_ptr<LanguageModel<float>> load_model(const std::string& path);

struct TrainState {
  int64_t step = 0;          // optimizer steps done
  int64_t tokens_seen = 0;
  std::array<uint64_t, 4> data_rng{}, sample_rng{};
};

void save_train_state(const std::string& path, const TrainState& state, AdamW<float>& optimizer,
                      const ParamTable<float>& params, const TrainConfig& config);
void load_train_state(const std::string& path, TrainState& state, AdamW<float>& optimizer,
                      const ParamTable<float>& params);

// A run folder's checkpoints: OUT/ckpt_0000500.safetensors + OUT/ckpt_0000500.state.safetensors.
std::string checkpoint_model_path(const std::string& out_dir, int64_t step);
std::string checkpoint_state_path(const std::string& out_dir, int64_t step);
// Steps of the complete checkpoints in out_dir, ascending.
std::vector<int64_t> list_checkpoints(const std::string& out_dir);
// Deletes all but the newest `keep` complete checkpoints.
void prune_checkpoints(const std::string& out_dir, int keep);
// A model path from a file or a run folder (its newest checkpoint); Error with a hint if none.
std::string resolve_model_path(const std::string& file_or_dir);

}  // namespace mosaic
