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
  // >= 0: the contextual memory's leaky-average decay, fixed at this value in every head and not
  // trained (the paper's figure-15 sweep); -1: learned per head, exp(-10 |beta_h|).
  double key_decay = -1;

  // GPT's positions: "learned" (GPT-2's wpe table, the default), "rope" or "alibi" (relative:
  // nothing is tied to block_size). The Memory Mosaic has none ("" only).
  std::string pos_encoding;

  // Memory Mosaics v2 (arXiv 2507.03285), each piece one key so each ablation is one flag.
  // short_term_window h > 0 turns the contextual memory into a short-term memory over the last
  // h - 1 pairs and a long-term memory over the pairs at least m old (m uniform in
  // [long_term_delay_min, long_term_delay_max] per training pass, long_term_delay at inference;
  // max 0: no long-term memory), both with v2's keys, values and bandwidth.
  int short_term_window = 0;
  int long_term_delay_min = 64, long_term_delay_max = 256, long_term_delay = 64;
  bool adaptive_bandwidth = true;  // beta = beta1 n^alpha + beta0; false: beta1 + beta0
  bool key_gate = true;            // gated time-variant keys; false: v1's leaky average per head
  std::string pmem_kind = "slots"; // "slots" (v1's key/value slots) or "swiglu" (v2)
  int swiglu_hidden = 0;           // the SwiGLU's hidden width; 0: 8 n_embd / 3 rounded up to 8

  int head_size() const { return n_embd / n_head; }
  bool memory_levels() const { return arch == "mosaic" && short_term_window > 0; }  // v2's two levels
  int swiglu_width() const { return swiglu_hidden > 0 ? swiglu_hidden : (8 * n_embd / 3 + 7) / 8 * 8; }
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
