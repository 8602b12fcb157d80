// Train-state files: writing and reading; pruning a run folder's checkpoints.
#include "train/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/model_io.hpp"
#include "io/safetensors.hpp"

namespace mosaic {

namespace fs = std::filesystem;

void save_train_state(const std::string& path, const TrainState& state, AdamW<float>& optimizer,
                      const ParamTable<float>& params, const TrainConfig& config) {
  safetensors::Writer out;
  out.set_metadata("format", kCheckpointFormat);
  out.set_metadata("train_config", config.to_json().dump());
  const int64_t scalars[2] = {state.step, state.tokens_seen};
  out.add_i64("step_and_tokens", {2}, scalars);
  out.add_i64("rng.data", {4}, reinterpret_cast<const int64_t*>(state.data_rng.data()));
  out.add_i64("rng.sample", {4}, reinterpret_cast<const int64_t*>(state.sample_rng.data()));
  out.add_i64("adamw.step", {1}, std::vector<int64_t>{optimizer.step()}.data());
  out.add_i64("world_size", {1}, &state.world_size);
  for (const auto& e : params.entries()) {
    out.add_f32("adamw.m." + e.name, e.shape, optimizer.first_moment().data() + e.offset);
    out.add_f32("adamw.v." + e.name, e.shape, optimizer.second_moment().data() + e.offset);
  }
  out.write(path);
}

void load_train_state(const std::string& path, TrainState& state, AdamW<float>& optimizer,
                      const ParamTable<float>& params) {
  const auto file = safetensors::Reader::open(path);
  MOSAIC_CHECK(file.metadata_or("format", "") == kCheckpointFormat, path + ": not a mosaic train-state file",
               "pass the run folder written by mosaic train");
  auto scalars = file.read_i64("step_and_tokens");
  MOSAIC_CHECK(scalars.size() == 2 && scalars[0] >= 0 && scalars[1] >= 0, path + ": malformed step_and_tokens",
               "the file is damaged; resume from an older checkpoint");
  state.step = scalars[0];
  state.tokens_seen = scalars[1];
  auto data_rng = file.read_i64("rng.data"), sample_rng = file.read_i64("rng.sample");
  MOSAIC_CHECK(data_rng.size() == 4 && sample_rng.size() == 4, path + ": malformed RNG state", "the file is damaged");
  for (int i = 0; i < 4; ++i) {
    state.data_rng[i] = static_cast<uint64_t>(data_rng[i]);
    state.sample_rng[i] = static_cast<uint64_t>(sample_rng[i]);
  }
  const auto adam_step = file.read_i64("adamw.step");
  MOSAIC_CHECK(adam_step.size() == 1 && adam_step[0] >= 0 && adam_step[0] <= state.step, path + ": malformed adamw.step",
               "the file is damaged; resume from an older checkpoint");
  optimizer.set_step(adam_step[0]);
  state.world_size = 1;  // files from before data-parallel training
  if (file.has("world_size")) {
    const auto world = file.read_i64("world_size");
    MOSAIC_CHECK(world.size() == 1 && world[0] >= 1, path + ": malformed world_size", "the file is damaged; resume from an older checkpoint");
    state.world_size = world[0];
  }
  for (const auto& e : params.entries()) {
    for (auto [prefix, buffer] : {std::pair{"adamw.m.", &optimizer.first_moment()}, std::pair{"adamw.v.", &optimizer.second_moment()}}) {
      const std::string name = prefix + e.name;
      MOSAIC_CHECK(file.has(name) && file.info(name).shape == e.shape, path + ": no matching " + name,
                   "the train state belongs to another model config");
      auto data = file.read_f32(name);
      bool ok = true;  // finite, and the second moment (a mean of squares) not negative
      for (float v : data) ok &= std::isfinite(v) && (prefix[6] == 'm' || v >= 0);
      MOSAIC_CHECK(ok, path + ": " + name + " holds non-finite or impossible values",
                   "the file is damaged; resume from an older checkpoint");
      std::copy(data.begin(), data.end(), buffer->data() + e.offset);
    }
  }
}

void prune_checkpoints(const std::string& out_dir, int keep) {
  auto steps = list_checkpoints(out_dir);
  for (size_t i = 0; i + keep < steps.size(); ++i) {
    std::error_code ec;
    fs::remove(checkpoint_state_path(out_dir, steps[i]), ec);  // state first: the pair stops counting
    fs::remove(checkpoint_model_path(out_dir, steps[i]), ec);
  }
}

}  // namespace mosaic
