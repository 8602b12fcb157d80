// Loading weights by state_dict name with shape checks.
#include "io/model_io.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace mosaic {

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

}  // namespace mosaic
