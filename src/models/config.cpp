// ModelConfig <-> JSON, and validation.
#include "models/config.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json_value.hpp"

namespace mosaic {

void ModelConfig::validate() const {
  MOSAIC_CHECK(arch == "mosaic" || arch == "gpt", "unknown arch '" + arch + "'", "use \"mosaic\" or \"gpt\"");
  MOSAIC_CHECK(n_layer > 0 && n_head > 0 && n_embd > 0 && block_size > 0 && vocab_size > 0,
               "model sizes must be positive", "check n_layer, n_head, n_embd, block_size, vocab_size");
  MOSAIC_CHECK(n_embd % n_head == 0,
               "n_embd " + std::to_string(n_embd) + " is not divisible by n_head " + std::to_string(n_head),
               "pick n_head dividing n_embd");
  MOSAIC_CHECK(arch != "mosaic" || (pmem_size > 0 && pmem_count > 0), "pmem_size and pmem_count must be positive",
               "the reference uses pmem_size 2688, pmem_count 1");
  MOSAIC_CHECK(dropout == 0.0, "dropout " + std::to_string(dropout) + " is not supported",
               "set dropout to 0 (the paper's language models train without it)");
}

void ModelConfig::update_from_json(const nlohmann::json& j, const std::string& source) {
  MOSAIC_CHECK(j.is_object(), source + ": model config is not a JSON object", "expected {\"n_layer\": ..., ...}");
  for (const auto& [key, value] : j.items()) {
    if (key == "arch") arch = json_value<std::string>(value, key, source);
    else if (key == "block_size") block_size = json_value<int>(value, key, source);
    else if (key == "vocab_size") vocab_size = json_value<int>(value, key, source);
    else if (key == "n_layer") n_layer = json_value<int>(value, key, source);
    else if (key == "n_head") n_head = json_value<int>(value, key, source);
    else if (key == "n_embd") n_embd = json_value<int>(value, key, source);
    else if (key == "pmem_size") pmem_size = json_value<int>(value, key, source);
    else if (key == "pmem_count") pmem_count = json_value<int>(value, key, source);
    else if (key == "bias") bias = json_value<bool>(value, key, source);
    else if (key == "dropout") dropout = json_value<double>(value, key, source);
    else if (key == "leaky_cuda") {}  // reference-only switch between two equal implementations
    else
      throw Error(source + ": unknown model config key '" + key + "'",
                  "known keys: arch block_size vocab_size n_layer n_head n_embd pmem_size pmem_count bias dropout");
  }
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j = {{"block_size", block_size}, {"vocab_size", vocab_size}, {"n_layer", n_layer},
                      {"n_head", n_head},         {"n_embd", n_embd},         {"bias", bias},
                      {"dropout", dropout}};
  if (arch == "mosaic") {
    j["pmem_size"] = pmem_size;
    j["pmem_count"] = pmem_count;
  }
  return j;
}

}  // namespace mosaic
