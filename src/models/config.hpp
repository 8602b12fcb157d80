// Model configuration with the reference's field names (MemoryMosaicConfig / GPTConfig),
// read from and written to JSON. Unknown keys are errors, not silently ignored.
#pragma once
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace mosaic {

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
  double dropout = 0.0;  // accepted for compatibility; training runs without dropout

  int head_size() const { return n_embd / n_head; }
  // Throws Error with a hint for impossible values.
  void validate() const;
  // Overrides fields from a JSON object (reference field names); `arch` may be set too.
  void update_from_json(const nlohmann::json& j, const std::string& source);
  nlohmann::json to_json() const;
};

}  // namespace mosaic
