// TrainConfig <-> flat JSON, validation, and the learning-rate schedule.
#include "train/train_config.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <cmath>
#include <nlohmann/json.hpp>

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

namespace {

const std::vector<std::string> kModelKeys = {"arch",       "block_size", "vocab_size", "n_layer",      "n_head",
                                             "n_embd",     "pmem_size",  "pmem_count", "bias",         "dropout",
                                             "ic_dropout", "hd_dropout", "init",       "scale_logits", "kernel_beta_upbound",
                                             "pos_encoding"};
const std::vector<std::string> kStringModelKeys = {"arch", "init", "pos_encoding"};

template <class T>
void read(const nlohmann::json& v, T& field, const std::string& key, const std::string& source) {
  field = json_value<T>(v, key, source);
}

}  // namespace

void TrainConfig::update_from_json(const nlohmann::json& j, const std::string& source) {
  MOSAIC_CHECK(j.is_object(), source + ": config is not a JSON object", "expected {\"n_layer\": 4, \"batch_size\": 8, ...}");
  nlohmann::json model_part = nlohmann::json::object();
  for (const auto& [key, v] : j.items()) {
    if (std::find(kModelKeys.begin(), kModelKeys.end(), key) != kModelKeys.end()) model_part[key] = v;
    else if (key == "data_dir") read(v, data_dir, key, source);
    else if (key == "out_dir") read(v, out_dir, key, source);
    else if (key == "batch_size") read(v, batch_size, key, source);
    else if (key == "gradient_accumulation_steps") read(v, gradient_accumulation_steps, key, source);
    else if (key == "max_iters") read(v, max_iters, key, source);
    else if (key == "learning_rate") read(v, learning_rate, key, source);
    else if (key == "min_lr") read(v, min_lr, key, source);
    else if (key == "warmup_iters") read(v, warmup_iters, key, source);
    else if (key == "lr_decay_iters") read(v, lr_decay_iters, key, source);
    else if (key == "weight_decay") read(v, weight_decay, key, source);
    else if (key == "decay_all_params") read(v, decay_all_params, key, source);
    else if (key == "beta1") read(v, beta1, key, source);
    else if (key == "beta2") read(v, beta2, key, source);
    else if (key == "grad_clip") read(v, grad_clip, key, source);
    else if (key == "eval_interval") read(v, eval_interval, key, source);
    else if (key == "eval_iters") read(v, eval_iters, key, source);
    else if (key == "log_interval") read(v, log_interval, key, source);
    else if (key == "sample_interval") read(v, sample_interval, key, source);
    else if (key == "sample_tokens") read(v, sample_tokens, key, source);
    else if (key == "checkpoint_interval") read(v, checkpoint_interval, key, source);
    else if (key == "keep_checkpoints") read(v, keep_checkpoints, key, source);
    else if (key == "keep_best") read(v, keep_best, key, source);
    else if (key == "overlap_allreduce") read(v, overlap_allreduce, key, source);
    else if (key == "seed") read(v, seed, key, source);
    else if (key == "threads") read(v, threads, key, source);
    else {
      std::string known;
      for (const auto& [k, is_string] : keys()) known += " " + k;
      throw Error(source + ": unknown config key '" + key + "'", "known keys:" + known);
    }
  }
  model.update_from_json(model_part, source);
}

nlohmann::json TrainConfig::to_json() const {
  nlohmann::json j = model.to_json();
  j["arch"] = model.arch;
  j.update({{"data_dir", data_dir},
            {"out_dir", out_dir},
            {"batch_size", batch_size},
            {"gradient_accumulation_steps", gradient_accumulation_steps},
            {"max_iters", max_iters},
            {"learning_rate", learning_rate},
            {"min_lr", min_lr},
            {"warmup_iters", warmup_iters},
            {"lr_decay_iters", lr_decay_iters},
            {"weight_decay", weight_decay},
            {"decay_all_params", decay_all_params},
            {"beta1", beta1},
            {"beta2", beta2},
            {"grad_clip", grad_clip},
            {"eval_interval", eval_interval},
            {"eval_iters", eval_iters},
            {"log_interval", log_interval},
            {"sample_interval", sample_interval},
            {"sample_tokens", sample_tokens},
            {"checkpoint_interval", checkpoint_interval},
            {"keep_checkpoints", keep_checkpoints},
            {"keep_best", keep_best},
            {"seed", seed},
            {"threads", threads},
            {"overlap_allreduce", overlap_allreduce}});
  return j;
}

std::vector<std::pair<std::string, bool>> TrainConfig::keys() {
  std::vector<std::pair<std::string, bool>> out;
  const TrainConfig defaults_config;  // a named object: GCC 12 warns falsely on a temporary's strings
  const nlohmann::json defaults = defaults_config.to_json();  // must outlive items()
  for (const auto& [key, value] : defaults.items()) out.emplace_back(key, value.is_string());
  for (const auto& key : kModelKeys)
    if (std::none_of(out.begin(), out.end(), [&](const auto& p) { return p.first == key; }))
      out.emplace_back(key, std::find(kStringModelKeys.begin(), kStringModelKeys.end(), key) != kStringModelKeys.end());
  return out;
}

void TrainConfig::validate() const {
  model.validate();
  MOSAIC_CHECK(batch_size > 0 && gradient_accumulation_steps > 0, "batch_size and gradient_accumulation_steps must be positive",
               "e.g. batch_size 8, gradient_accumulation_steps 1");
  // 2^50 steps outlast any machine, and keep step + 1 and the schedule's ratios exact.
  constexpr int64_t kMaxIters = int64_t{1} << 50;
  for (const auto& [key, value] : {std::pair{"max_iters", max_iters}, std::pair{"warmup_iters", warmup_iters},
                                   std::pair{"lr_decay_iters", lr_decay_iters}, std::pair{"eval_interval", eval_interval}})
    MOSAIC_CHECK(value >= 0 && value <= kMaxIters,
                 std::string(key) + " " + std::to_string(value) + " is outside [0, 2^50]",
                 "iteration counts must not be negative; e.g. max_iters 5000, warmup_iters 200");
  MOSAIC_CHECK(learning_rate > 0 && min_lr >= 0 && min_lr <= learning_rate, "need 0 <= min_lr <= learning_rate, learning_rate > 0",
               "the paper uses learning_rate 1e-3 (small models) and min_lr 1e-4");
  MOSAIC_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "AdamW betas must be in [0, 1)", "e.g. beta1 0.9, beta2 0.95");
  MOSAIC_CHECK(grad_clip >= 0 && weight_decay >= 0, "grad_clip and weight_decay must not be negative", "0 disables either");
  MOSAIC_CHECK(eval_iters > 0 && log_interval > 0 && keep_checkpoints > 0 && threads >= 0 && sample_tokens >= 0,
               "eval_iters, log_interval and keep_checkpoints must be positive", "see configs/*.json");
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
