// Model files and run folders: weights <-> safetensors, the config in __metadata__ ("arch",
// "config" JSON, as the reference fixtures store it), tensors under their state_dict names
// (optionally prefixed, e.g. "param." in the parity fixtures); the checkpoint names of a run
// folder. Not the train state (optimizer, loader, RNG: train/checkpoint.hpp).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/param_table.hpp"
#include "io/safetensors.hpp"
#include "models/language_model.hpp"

namespace mosaic {

// The "format" metadata of model and train-state files.
inline constexpr const char* kCheckpointFormat = "mosaic-checkpoint-1";

// Reads arch + config from the metadata; Error with a hint when absent or malformed.
ModelConfig read_model_config(const safetensors::Reader& file);

// Copies every parameter of the table from tensors named prefix + state_dict name. Names or
// shapes that do not match, and parameter tensors the model does not have, are Errors.
void load_parameters(const safetensors::Reader& file, ParamTable<float>& table, const std::string& prefix = "");

// Writes the model file: parameters, the tied lm_head.weight and the reference's buffers,
// so that PyTorch loads it with strict=True. Atomic.
void save_model(const std::string& path, const LanguageModel<float>& model,
                const std::map<std::string, std::string>& extra_metadata = {});
// Loads a model file written by save_model, any safetensors with arch/config metadata, a plain
// PyTorch state_dict of the reference's MemoryMosaic or GPT, or Hugging Face's GPT-2 (Conv1D
// layout, with or without "transformer."; n_head from the config.json beside it, else C / 64).
std::unique_ptr<LanguageModel<float>> load_model(const std::string& path);

// A run folder's checkpoints: OUT/ckpt_0000500.safetensors + OUT/ckpt_0000500.state.safetensors.
std::string checkpoint_model_path(const std::string& out_dir, int64_t step);
std::string checkpoint_state_path(const std::string& out_dir, int64_t step);
// Steps of the complete checkpoints in out_dir, ascending.
std::vector<int64_t> list_checkpoints(const std::string& out_dir);
// A model path from a file or a run folder (its newest checkpoint); Error with a hint if none.
std::string resolve_model_path(const std::string& file_or_dir);

}  // namespace mosaic
