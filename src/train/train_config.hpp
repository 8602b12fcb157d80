// Everything a training run is told: the model (reference field names) and the trainer
// (nanoGPT's names: batch_size, max_iters, learning_rate, ...). One flat JSON object;
// defaults < --config FILE.json < flags. Unknown keys are errors.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "models/config.hpp"

namespace mosaic {

struct ConfigKey;  // core/config_table.hpp

struct TrainConfig {
  ModelConfig model;
  // data and output
  std::string data_dir = "data/tinystories_gpt2";  // train.bin, val.bin (mosaic prepare)
  std::string out_dir = "runs/default";
  // optimisation
  int batch_size = 8;
  int gradient_accumulation_steps = 1;
  int64_t max_iters = 3000;
  double learning_rate = 1e-3;
  double min_lr = 1e-4;
  int64_t warmup_iters = 100;
  int64_t lr_decay_iters = 3000;
  double weight_decay = 0.1;
  bool decay_all_params = false;  // true: every tensor decays (seq_icl's trainer); false: matrices only (nanoGPT)
  double beta1 = 0.9, beta2 = 0.95;
  double grad_clip = 1.0;  // 0 disables clipping
  // bookkeeping
  int64_t eval_interval = 250;  // validation loss every N steps (and at the end)
  int eval_iters = 20;          // batches per validation estimate
  int64_t log_interval = 10;
  int64_t sample_interval = 1000;  // 0: no samples during training
  int sample_tokens = 120;
  int64_t checkpoint_interval = 500;
  int keep_checkpoints = 2;
  bool keep_best = false;  // also keep best.safetensors, the model of the lowest validation loss
  uint64_t seed = 1337;
  int threads = 0;  // 0: all cores
  // Under mpirun: average each block's gradients while the earlier blocks' backward runs (a
  // thread of its own), or all of them after the backward pass. Off by default: on the story
  // models the tied embedding, final only at the very end, is 89% of the gradient, and the
  // extra thread cost more than it hid (docs/training.md has the measurements).
  bool overlap_allreduce = false;

  void validate() const;
  void update_from_json(const nlohmann::json& j, const std::string& source);
  nlohmann::json to_json() const;  // flat: model keys and trainer keys together
  // The trainer's keys: adding one is a line in this table (train_config.cpp) and a member above.
  static std::span<const ConfigField<TrainConfig>> fields();
  // Every key update_from_json accepts, the model's first (the flags of `mosaic train`).
  static std::vector<ConfigKey> keys();
};

// A JSON file's content; Error with a hint when it cannot be read or parsed.
nlohmann::json read_json_file(const std::string& path);

// The config of a run to resume: out_dir/config.json with `changes` on top (JSON objects, each
// with the name its errors give it, e.g. a file, "command line"). A changed trainer setting is
// printed on stderr (config.json records it); a changed model setting is an Error with a hint.
TrainConfig resumed_config(const std::string& out_dir,
                           const std::vector<std::pair<nlohmann::json, std::string>>& changes);

// The learning rate of a step: linear warmup, cosine decay to min_lr at lr_decay_iters, then flat.
double learning_rate_at(const TrainConfig& c, int64_t step);

}  // namespace mosaic
