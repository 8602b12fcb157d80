// Pieces the token streams share: read-only views of a model's Linear and LayerNorm weights,
// looked up by their state_dict names, applied to a few rows at a time. Not layers: no
// caches, no backward. The arithmetic is the training kernels' (same order, same rounding
// where it matters) so that a stream reproduces the full forward.
// Shapes: x (rows, in), y (rows, out); LayerNorm x, y (rows, C).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/param_table.hpp"

namespace mosaic {

struct LinearView {
  const float* w = nullptr;  // (out, in)
  const float* b = nullptr;  // (out) or null
  int out = 0, in = 0;
  // y = x W^T + b: a row loop for one row (sgemm is slow there), gemm for more.
  void apply(float* y, const float* x, int rows) const;
};

struct LayerNormView {
  const float* w = nullptr;
  const float* b = nullptr;
  int C = 0;
  // Serial over rows: one token must not wake a thread team.
  void apply(float* y, const float* x, int rows) const;
};

// Finds parameters by name and checks their shapes; Error with a hint when one is missing
// (e.g. a GPT checkpoint handed to the Memory Mosaic stream).
class ParamLookup {
 public:
  ParamLookup(const ParamTable<float>& table, bool bias) : table_(table), bias_(bias) {}
  const float* tensor(const std::string& name, const std::vector<int64_t>& shape) const;
  LinearView linear(const std::string& prefix, int out, int in) const;  // prefix + "weight", "bias"
  LayerNormView layernorm(const std::string& prefix, int C) const;

 private:
  const ParamTable<float>& table_;
  bool bias_;
};

// Threads for the vocabulary projection: `requested`, or OpenMP's default when 0.
int stream_threads(int requested);

}  // namespace mosaic
