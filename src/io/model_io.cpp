// Loading and saving weights by state_dict name with shape checks; run-folder names.
#include "io/model_io.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "models/factory.hpp"

namespace mosaic {

namespace fs = std::filesystem;

// A plain PyTorch state_dict saved with safetensors has no config: read it off the shapes.
static ModelConfig infer_model_config(const safetensors::Reader& file) {
  const bool gpt = file.has("transformer.wte.weight") || file.has("transformer.wpe.weight");
  const std::string root = gpt ? "transformer." : "mosaic.";
  const std::string wte = file.has(root + "wte.weight") ? root + "wte.weight" : "lm_head.weight";
  MOSAIC_CHECK(file.has(wte), file.path() + ": no model config in the metadata and no embedding to infer it from",
               "expected a mosaic checkpoint, or a PyTorch state_dict of MemoryMosaic or GPT");
  MOSAIC_CHECK(!gpt, file.path() + ": a plain GPT state_dict does not record n_head, so its config cannot be inferred",
               "add __metadata__ {\"arch\": \"gpt\", \"config\": \"{...GPTConfig fields...}\"} to the file");
  ModelConfig c;
  c.arch = "mosaic";
  c.vocab_size = static_cast<int>(file.info(wte).shape.at(0));
  c.n_embd = static_cast<int>(file.info(wte).shape.at(1));
  c.n_layer = 0;
  while (file.has(root + "h." + std::to_string(c.n_layer) + ".ln_1.weight")) ++c.n_layer;
  c.bias = file.has(root + "h.0.ln_1.bias");
  const auto& pk = file.info("mosaic.h.0.mlp.P_k").shape;  // (pmem_count, 1, H, P, hs)
  c.pmem_count = static_cast<int>(pk.at(0));
  c.n_head = static_cast<int>(pk.at(2));
  c.pmem_size = static_cast<int>(pk.at(3));
  const std::string coef = "mosaic.h.0.attn.k_featurizer.leaky_avg.coef";
  if (file.has(coef)) c.block_size = static_cast<int>(file.info(coef).shape.at(0));
  return c;
}

ModelConfig read_model_config(const safetensors::Reader& file) {
  const auto& meta = file.metadata();
  auto config_text = meta.find("config");
  if (config_text == meta.end()) {
    ModelConfig inferred = infer_model_config(file);
    inferred.validate();
    return inferred;
  }
  ModelConfig config;
  config.arch = file.metadata_or("arch", "mosaic");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(config_text->second);
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.path() + ": model config in the metadata is not valid JSON", "the file header is damaged");
  }
  config.update_from_json(j, file.path());
  config.validate();
  return config;
}

// Tensors of a PyTorch state_dict that are not parameters: the tied head (the same tensor as
// wte.weight) and the Memory Mosaic's constant buffers (leaky-average coefficients, causal mask).
static bool is_reference_buffer(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return name == "lm_head.weight" || ends_with(".leaky_avg.coef") || ends_with(".attn.bias");
}

void load_parameters(const safetensors::Reader& file, ParamTable<float>& table, const std::string& prefix) {
  for (const auto& e : table.entries()) {
    std::string name = prefix + e.name;
    // PyTorch's safetensors export keeps one of two tied tensors: wte may live as lm_head only.
    if (!file.has(name) && e.name.ends_with("wte.weight") && file.has(prefix + "lm_head.weight"))
      name = prefix + "lm_head.weight";
    MOSAIC_CHECK(file.has(name), file.path() + ": missing tensor " + name,
                 "the file was written for another architecture or config");
    const auto& info = file.info(name);
    MOSAIC_CHECK(info.shape == e.shape,
                 file.path() + ": tensor " + name + " has shape " + shape_string(info.shape) + ", the model expects " +
                     shape_string(e.shape),
                 "the file's config does not match the model's");
    std::vector<float> data = file.read_f32(name);
    std::copy(data.begin(), data.end(), table.value(e));
  }
  for (const auto& name : file.names()) {
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string bare = name.substr(prefix.size());
    if (is_reference_buffer(bare)) continue;
    MOSAIC_CHECK(table.find(bare) != nullptr, file.path() + ": tensor " + name + " is not a parameter of this model",
                 "the file was written for another architecture or config");
  }
}


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
  out.set_metadata("format", kCheckpointFormat);
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
