// Embedding lookup (token or position table). Its weight doubles as the tied lm_head.
// Shapes: weight (V, C); ids (N); y (N, C).
#pragma once
#include <cstdint>
#include <string>

#include "core/activations.hpp"
#include "core/param_table.hpp"

namespace mosaic {

template <class F>
struct Embedding {
  int V = 0, C = 0;
  Param<F> weight;

  // cache
  const int32_t* ids = nullptr;
  int64_t N = 0;
  Activation<F> y;  // (N, C)

  Embedding() = default;
  Embedding(int rows, int channels) : V(rows), C(channels) {}
  void register_params(ParamTable<F>& table, const std::string& name) { table.add(name, {V, C}, &weight); }
  void plan(Activations<F>& acts, const std::string& name, int64_t rows) { acts.add(name + ".y", {rows, C}, &y); }

  // y = the rows of ids, no cache (the streaming step). ids must be in [0, V): the model
  // checks them at its entry point.
  void lookup(F* y_out, const int32_t* token_ids, int64_t rows) const;
  const F* forward(const int32_t* token_ids, int64_t rows);
  // Accumulates dy into the rows of weight.grad (serial: repeated ids make it a scatter-add).
  void backward(const F* dy);
};

}  // namespace mosaic
