// TrainConfig's field table, flat JSON in and out through it (with ModelConfig's), validation,
// and the learning-rate schedule.
#include "train/train_config.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/config_table.hpp"
#include "core/error.hpp"
#include "core/json_value.hpp"

namespace mosaic {

nlohmann::json read_json_file(const std::string& path) {
  std::error_code ec;  // not a directory, FIFO or device: opening a FIFO would wait forever
  MOSAIC_CHECK(std::filesystem::is_regular_file(path, ec), "config " + path + " is not a regular file",
               "pass a .json file (a flat JSON object)");
  MOSAIC_CHECK(std::filesystem::file_size(path, ec) <= (64 << 20), "config " + path + " is larger than 64 MiB",
               "a config is a small flat JSON object");
  std::ifstream in(path);
  MOSAIC_CHECK(in.good(), "cannot open config " + path, "check the path given to --config");
  const std::string text{std::istreambuf_iterator<char>(in), {}};
  return parse_json(text, "config " + path, "fix the file (a flat JSON object)");
}

TrainConfig resumed_config(const std::string& out_dir,
                           const std::vector<std::pair<nlohmann::json, std::string>>& changes) {
  const std::string path = (std::filesystem::path(out_dir) / "config.json").string();
  MOSAIC_CHECK(std::filesystem::is_regular_file(path), "--resume: no config.json in " + out_dir,
               "resume a run folder written by mosaic train (--out_dir), or start without --resume");
  TrainConfig config;
  config.update_from_json(read_json_file(path), path);
  const nlohmann::json before = config.to_json();
  for (const auto& [change, source] : changes) config.update_from_json(change, source);
  const nlohmann::json after = config.to_json();
  for (const auto& [key, value] : after.items()) {
    if (before.contains(key) && before[key] == value) continue;
    MOSAIC_CHECK(find_field(ModelConfig::fields(), key) == nullptr,
                 "--resume: " + key + " " + value.dump() + " differs from the run's " + before.value(key, nlohmann::json()).dump(),
                 "a run keeps its model; drop the setting, or train a new model in another --out_dir");
    std::fprintf(stderr, "resume: %s %s -> %s\n", key.c_str(), before.value(key, nlohmann::json()).dump().c_str(),
                 value.dump().c_str());
  }
  return config;
}

namespace {

using T = TrainConfig;

// 2^50 steps outlast any machine, and keep step + 1 and the schedule's ratios exact.
constexpr Range kIterations = between(0, 0x1p50);

constexpr ConfigField<T> kFields[] = {
    {"data_dir", &T::data_dir, "folder with train.bin and val.bin (mosaic prepare)"},
    {"out_dir", &T::out_dir, "run folder: checkpoints, config.json, the log"},
    {"batch_size", &T::batch_size, "sequences B per micro-step", at_least(1)},
    {"gradient_accumulation_steps", &T::gradient_accumulation_steps, "micro-steps per optimizer step", at_least(1)},
    {"max_iters", &T::max_iters, "optimizer steps of the run", kIterations},
    {"learning_rate", &T::learning_rate, "peak learning rate, reached after the warmup", above(0)},
    {"min_lr", &T::min_lr, "learning rate at the end of the cosine decay; at most learning_rate", at_least(0)},
    {"warmup_iters", &T::warmup_iters, "steps of linear warmup", kIterations},
    {"lr_decay_iters", &T::lr_decay_iters, "step at which the cosine decay reaches min_lr", kIterations},
    {"weight_decay", &T::weight_decay, "AdamW's decoupled weight decay; 0: none", at_least(0)},
    {"decay_all_params", &T::decay_all_params, "true: every tensor decays (seq_icl); false: matrices only (nanoGPT)"},
    {"beta1", &T::beta1, "AdamW's first-moment decay", rate()},
    {"beta2", &T::beta2, "AdamW's second-moment decay", rate()},
    {"grad_clip", &T::grad_clip, "clip the gradient's global norm at this; 0: no clipping", at_least(0)},
    {"eval_interval", &T::eval_interval, "validation loss every N steps (and at the end); 0: only at the end", kIterations},
    {"eval_iters", &T::eval_iters, "batches per validation estimate", at_least(1)},
    {"log_interval", &T::log_interval, "a log line every N steps", at_least(1)},
    {"sample_interval", &T::sample_interval, "a text sample every N steps; 0: none"},
    {"sample_tokens", &T::sample_tokens, "tokens per text sample", at_least(0)},
    {"checkpoint_interval", &T::checkpoint_interval, "a checkpoint every N steps (and at the end); 0: only at the end"},
    {"keep_checkpoints", &T::keep_checkpoints, "newest checkpoints kept in out_dir", at_least(1)},
    {"keep_best", &T::keep_best, "also keep best.safetensors, the model of the lowest validation loss"},
    {"seed", &T::seed, "seed of the init, data and dropout streams"},
    {.key = "threads", .member = &T::threads, .meaning = "threads; 0: all cores", .range = at_least(0), .alias = "-t"},
    {"overlap_allreduce", &T::overlap_allreduce,
     "under mpirun: average each block's gradients while the earlier blocks' backward runs"},
};

}  // namespace

std::span<const ConfigField<TrainConfig>> TrainConfig::fields() { return kFields; }

void TrainConfig::update_from_json(const nlohmann::json& j, const std::string& source) {
  MOSAIC_CHECK(j.is_object(), source + ": config is not a JSON object", "expected {\"n_layer\": 4, \"batch_size\": 8, ...}");
  nlohmann::json model_part = nlohmann::json::object();
  for (const auto& [key, v] : j.items()) {
    const auto* model_field = find_field(ModelConfig::fields(), key);
    if (const auto* field = find_field(fields(), key)) read_field(*field, *this, v, source);
    else if (model_field && !model_field->ignored()) model_part[key] = v;
    else
      throw Error(source + ": unknown config key '" + key + "'",
                  "known keys: " + known_keys(ModelConfig::fields()) + " " + known_keys(fields()));
  }
  model.update_from_json(model_part, source);
}

nlohmann::json TrainConfig::to_json() const {
  nlohmann::json j = model.to_json();
  const auto& arch = field_of(ModelConfig::fields(), &ModelConfig::arch);  // which a model file keeps apart
  j[arch.key] = field_json(arch, model);
  write_fields(j, fields(), *this);
  return j;
}

std::vector<ConfigKey> TrainConfig::keys() {
  std::vector<ConfigKey> out = describe_fields(ModelConfig::fields());
  for (auto& k : describe_fields(fields())) out.push_back(std::move(k));
  return out;
}

void TrainConfig::validate() const {
  model.validate();
  check_ranges(fields(), *this);
  MOSAIC_CHECK(min_lr <= learning_rate,
               "min_lr " + nlohmann::json(min_lr).dump() + " is larger than learning_rate " +
                   nlohmann::json(learning_rate).dump(),
               "the paper uses learning_rate 1e-3 (small models) and min_lr 1e-4");
}

double learning_rate_at(const TrainConfig& c, int64_t step) {
  if (step < c.warmup_iters) return c.learning_rate * static_cast<double>(step + 1) / static_cast<double>(c.warmup_iters + 1);
  if (step >= c.lr_decay_iters) return c.min_lr;
  const double span = static_cast<double>(c.lr_decay_iters - c.warmup_iters);
  const double progress = span > 0 ? static_cast<double>(step - c.warmup_iters) / span : 1.0;
  const double coeff = 0.5 * (1.0 + std::cos(M_PI * progress));
  return c.min_lr + coeff * (c.learning_rate - c.min_lr);
}

}  // namespace mosaic
