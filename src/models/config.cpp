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
  // Above these the layers' index arithmetic (4 n_embd^2 in int, T^2 per head in int64) and any
  // machine's memory give out; the largest published models stay well inside.
  auto at_most = [](const char* key, int value, int limit) {
    MOSAIC_CHECK(value <= limit, std::string(key) + " " + std::to_string(value) + " is larger than " + std::to_string(limit),
                 "model sizes are bounded: n_embd <= 16384, n_layer <= 1024, vocab_size <= 2^24, block_size and "
                 "pmem_size <= 2^20, pmem_count <= 1024");
  };
  at_most("n_embd", n_embd, 1 << 14);
  at_most("n_layer", n_layer, 1 << 10);
  at_most("vocab_size", vocab_size, 1 << 24);
  at_most("block_size", block_size, 1 << 20);
  MOSAIC_CHECK(n_embd % n_head == 0,
               "n_embd " + std::to_string(n_embd) + " is not divisible by n_head " + std::to_string(n_head),
               "pick n_head dividing n_embd");
  MOSAIC_CHECK(arch != "mosaic" || (pmem_size > 0 && pmem_count > 0), "pmem_size and pmem_count must be positive",
               "the reference uses pmem_size 2688, pmem_count 1");
  if (arch == "mosaic") {
    at_most("pmem_size", pmem_size, 1 << 20);
    at_most("pmem_count", pmem_count, 1 << 10);
  }
  for (auto [key, rate] : {std::pair{"dropout", dropout}, {"ic_dropout", ic_dropout}, {"hd_dropout", hd_dropout}})
    MOSAIC_CHECK((rate >= 0 && rate < 1) || (rate == -1 && std::string(key) != "dropout"),
                 std::string(key) + " " + std::to_string(rate) + " is not a dropout rate",
                 "use a rate in [0, 1) (the paper: 0 for language models, 0.05 on RegBench)");
  if (arch == "mosaic")
    MOSAIC_CHECK(pos_encoding.empty() || pos_encoding == "none", "pos_encoding '" + pos_encoding + "' for a Memory Mosaic",
                 "the Memory Mosaic has no positional encoding: leave pos_encoding out");
  else
    MOSAIC_CHECK(pos_encoding.empty() || pos_encoding == "learned" || pos_encoding == "rope" || pos_encoding == "alibi",
                 "unknown pos_encoding '" + pos_encoding + "'", "use \"learned\" (GPT-2), \"rope\" or \"alibi\"");
  MOSAIC_CHECK(pos_encoding != "rope" || head_size() % 2 == 0,
               "rope needs an even head size, not " + std::to_string(head_size()), "pick n_head so that n_embd / n_head is even");
  MOSAIC_CHECK(init == "nanogpt" || init == "fanin", "unknown init '" + init + "'",
               "use \"nanogpt\" (nanoMosaics, GPT-2) or \"fanin\" (StackAssoMem, the RegBench model)");
  MOSAIC_CHECK(kernel_beta_upbound >= 0 && kernel_beta_upbound <= 11,
               "kernel_beta_upbound " + std::to_string(kernel_beta_upbound) + " is out of range",
               "0 (nanoMosaics' clamp at ln 65535) or StackAssoMem's 5");
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
    else if (key == "ic_dropout") ic_dropout = json_value<double>(value, key, source);
    else if (key == "hd_dropout") hd_dropout = json_value<double>(value, key, source);
    else if (key == "init") init = json_value<std::string>(value, key, source);
    else if (key == "scale_logits") scale_logits = json_value<bool>(value, key, source);
    else if (key == "kernel_beta_upbound") kernel_beta_upbound = json_value<double>(value, key, source);
    else if (key == "pos_encoding") pos_encoding = json_value<std::string>(value, key, source);
    else if (key == "leaky_cuda") {}  // reference-only switch between two equal implementations
    else
      throw Error(source + ": unknown model config key '" + key + "'",
                  "known keys: arch block_size vocab_size n_layer n_head n_embd pmem_size pmem_count bias dropout "
                  "ic_dropout hd_dropout init scale_logits kernel_beta_upbound pos_encoding");
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
  // Written only where they differ from the defaults: a nanoMosaics config stays the reference's.
  if (ic_dropout >= 0) j["ic_dropout"] = ic_dropout;
  if (hd_dropout >= 0) j["hd_dropout"] = hd_dropout;
  if (init != "nanogpt") j["init"] = init;
  if (scale_logits) j["scale_logits"] = true;
  if (kernel_beta_upbound > 0) j["kernel_beta_upbound"] = kernel_beta_upbound;
  if (!pos_encoding.empty()) j["pos_encoding"] = pos_encoding;
  return j;
}

}  // namespace mosaic
