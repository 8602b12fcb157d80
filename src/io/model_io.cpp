// Loading weights by state_dict name with shape checks.
#include "io/model_io.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace mosaic {

ModelConfig read_model_config(const safetensors::Reader& file) {
  const auto& meta = file.metadata();
  auto config_text = meta.find("config");
  MOSAIC_CHECK(config_text != meta.end(), file.path() + ": no model config in the safetensors metadata",
               "expected __metadata__ with \"arch\" and \"config\" (written by mosaic train or the fixture maker)");
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
    const std::string name = prefix + e.name;
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
