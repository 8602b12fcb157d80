// Model configuration with the reference's field names (MemoryMosaicConfig / GPTConfig),
// read from and written to JSON through one table of its fields (config.cpp: key, meaning,
// range, when written). Unknown keys are errors, not silently ignored.
#pragma once
#include <span>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace mosaic {

template <class C>
struct ConfigField;  // core/config_table.hpp

struct ModelConfig {
  std::string arch = "mosaic";  // "mosaic" (Memory Mosaic) or "gpt" (GPT-2 baseline)
  int block_size = 1024;
  int vocab_size = 50304;
  int n_layer = 12;
  int n_head = 12;
  int n_embd = 768;
  int pmem_size = 2688;  // mosaic only
  int pmem_count = 1;    // mosaic only
  bool bias = true;
  // Dropout in training passes (kernels/dropout.hpp). `dropout` is nanoGPT's single rate:
  // embeddings, attention/memory probabilities, the residual branches' outputs. StackAssoMem's
  // ic_dropout (probabilities) and hd_dropout (branch outputs) override it where >= 0.
  double dropout = 0.0;
  double ic_dropout = -1, hd_dropout = -1;
  // The ICLL model (StackAssoMem) differs from nanoMosaics in these, each off by default:
  std::string init = "nanogpt";      // "fanin": N(0, 1/sqrt(fan_in)) matrices, N(0, 1) embedding
  bool scale_logits = false;         // logits times 1/sqrt(n_embd)
  double kernel_beta_upbound = 0;    // > 0: key scale exp(s min(10 key_scale, this)); 0: exp(min(s 10 key_scale, ln 65535))

  // GPT's positions: "learned" (GPT-2's wpe table, the default), "rope" or "alibi" (relative:
  // nothing is tied to block_size). The Memory Mosaic has none ("" only).
  std::string pos_encoding;

  int head_size() const { return n_embd / n_head; }
  bool learned_positions() const { return arch == "gpt" && (pos_encoding.empty() || pos_encoding == "learned"); }
  double embd_dropout() const { return dropout; }
  double prob_dropout() const { return ic_dropout >= 0 ? ic_dropout : dropout; }
  double resid_dropout() const { return hd_dropout >= 0 ? hd_dropout : dropout; }
  // Throws Error with a hint for impossible values.
  void validate() const;
  // Overrides fields from a JSON object (reference field names); `arch` may be set too.
  void update_from_json(const nlohmann::json& j, const std::string& source);
  // Without `arch`: a model file keeps it in a metadata entry of its own.
  nlohmann::json to_json() const;
  // Every key: adding one is a line in this table (config.cpp) and a member above.
  static std::span<const ConfigField<ModelConfig>> fields();
};

}  // namespace mosaic
