// Checkpoint files: writing, reading, listing and pruning.
#include "train/checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/model_io.hpp"
#include "io/safetensors.hpp"

namespace mosaic {

namespace fs = std::filesystem;
constexpr const char* kFormat = "mosaic-checkpoint-1";

// PyTorch's MemoryMosaic also keeps two buffers per layer in its state_dict; writing them
// lets `model.load_state_dict(safetensors.torch.load_file(path))` run with strict=True.
static void add_reference_buffers(safetensors::Writer& out, const ModelConfig& c) {
  if (c.arch != "mosaic") return;
  const int64_t T = c.block_size;
  std::vector<float> coef(T * T, 0.0f);  // LeakyAvg.coef: -(i - j) on and below the diagonal
  std::vector<uint8_t> mask(T * T, 0);   // ContextMem.bias: tril(ones, diagonal=-1)
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      coef[i * T + j] = static_cast<float>(-(i - j));
      mask[i * T + j] = j < i;
    }
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "mosaic.h." + std::to_string(l) + ".";
    out.add_f32(h + "attn.k_featurizer.leaky_avg.coef", {T, T}, coef.data());
    out.add_f32(h + "mlp.k_featurizer.leaky_avg.coef", {T, T}, coef.data());
    out.add(h + "attn.bias", safetensors::DType::BOOL, {1, 1, T, T}, std::as_bytes(std::span(mask)));
  }
}

void save_model(const std::string& path, const LanguageModel<float>& model,
                const std::map<std::string, std::string>& extra_metadata) {
  safetensors::Writer out;
  out.set_metadata("format", kFormat);
  out.set_metadata("arch", model.config().arch);
  out.set_metadata("config", model.config().to_json().dump());
  for (const auto& [k, v] : extra_metadata) out.set_metadata(k, v);
  const auto& params = model.params();
  for (const auto& e : params.entries()) out.add_f32(e.name, e.shape, params.value(e));
  const std::string wte = model.config().arch == "gpt" ? "transformer.wte.weight" : "mosaic.wte.weight";
  const auto* tied = params.find(wte);
  out.add_f32("lm_head.weight", tied->shape, params.value(*tied));
  add_reference_buffers(out, model.config());
  out.write(path);
}

std::unique_ptr<LanguageModel<float>> load_model(const std::string& path) {
  const auto file = safetensors::Reader::open(path);
  auto model = make_model<float>(read_model_config(file));
  load_parameters(file, model->params());
  return model;
}

void save_train_state(const std::string& path, const TrainState& state, AdamW<float>& optimizer,
                      const ParamTable<float>& params, const TrainConfig& config) {
  safetensors::Writer out;
  out.set_metadata("format", kFormat);
  out.set_metadata("train_config", config.to_json().dump());
  const int64_t scalars[2] = {state.step, state.tokens_seen};
  out.add_i64("step_and_tokens", {2}, scalars);
  out.add_i64("rng.data", {4}, reinterpret_cast<const int64_t*>(state.data_rng.data()));
  out.add_i64("rng.sample", {4}, reinterpret_cast<const int64_t*>(state.sample_rng.data()));
  out.add_i64("adamw.step", {1}, std::vector<int64_t>{optimizer.step()}.data());
  for (const auto& e : params.entries()) {
    out.add_f32("adamw.m." + e.name, e.shape, optimizer.first_moment().data() + e.offset);
    out.add_f32("adamw.v." + e.name, e.shape, optimizer.second_moment().data() + e.offset);
  }
  out.write(path);
}

void load_train_state(const std::string& path, TrainState& state, AdamW<float>& optimizer,
                      const ParamTable<float>& params) {
  const auto file = safetensors::Reader::open(path);
  MOSAIC_CHECK(file.metadata_or("format", "") == kFormat, path + ": not a mosaic train-state file",
               "pass the run folder written by mosaic train");
  auto scalars = file.read_i64("step_and_tokens");
  MOSAIC_CHECK(scalars.size() == 2, path + ": malformed step_and_tokens", "the file is damaged; resume from an older checkpoint");
  state.step = scalars[0];
  state.tokens_seen = scalars[1];
  auto data_rng = file.read_i64("rng.data"), sample_rng = file.read_i64("rng.sample");
  MOSAIC_CHECK(data_rng.size() == 4 && sample_rng.size() == 4, path + ": malformed RNG state", "the file is damaged");
  for (int i = 0; i < 4; ++i) {
    state.data_rng[i] = static_cast<uint64_t>(data_rng[i]);
    state.sample_rng[i] = static_cast<uint64_t>(sample_rng[i]);
  }
  optimizer.set_step(file.read_i64("adamw.step").at(0));
  for (const auto& e : params.entries()) {
    for (auto [prefix, buffer] : {std::pair{"adamw.m.", &optimizer.first_moment()}, std::pair{"adamw.v.", &optimizer.second_moment()}}) {
      const std::string name = prefix + e.name;
      MOSAIC_CHECK(file.has(name) && file.info(name).shape == e.shape, path + ": no matching " + name,
                   "the train state belongs to another model config");
      auto data = file.read_f32(name);
      std::copy(data.begin(), data.end(), buffer->data() + e.offset);
    }
  }
}

std::string checkpoint_model_path(const std::string& out_dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "ckpt_%07lld.safetensors", static_cast<long long>(step));
  return (fs::path(out_dir) / name).string();
}

std::string checkpoint_state_path(const std::string& out_dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "ckpt_%07lld.state.safetensors", static_cast<long long>(step));
  return (fs::path(out_dir) / name).string();
}

std::vector<int64_t> list_checkpoints(const std::string& out_dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(out_dir, ec)) {
    const std::string name = entry.path().filename().string();
    long long step = 0;
    char tail[32] = {0};
    if (std::sscanf(name.c_str(), "ckpt_%lld.%31s", &step, tail) == 2 && std::strcmp(tail, "state.safetensors") == 0 &&
        fs::exists(checkpoint_model_path(out_dir, step)))
      steps.push_back(step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

void prune_checkpoints(const std::string& out_dir, int keep) {
  auto steps = list_checkpoints(out_dir);
  for (size_t i = 0; i + keep < steps.size(); ++i) {
    std::error_code ec;
    fs::remove(checkpoint_state_path(out_dir, steps[i]), ec);  // state first: the pair stops counting
    fs::remove(checkpoint_model_path(out_dir, steps[i]), ec);
  }
}

std::string resolve_model_path(const std::string& file_or_dir) {
  if (!fs::is_directory(file_or_dir)) {
    MOSAIC_CHECK(fs::exists(file_or_dir), "model " + file_or_dir + " does not exist",
                 "pass a .safetensors file or a run folder of mosaic train");
    return file_or_dir;
  }
  auto steps = list_checkpoints(file_or_dir);
  MOSAIC_CHECK(!steps.empty(), "no checkpoint in " + file_or_dir, "train first: mosaic train --out_dir " + file_or_dir);
  return checkpoint_model_path(file_or_dir, steps.back());
}

}  // namespace mosaic
