// AdamW exactly as PyTorch's torch.optim.AdamW (decoupled decay applied before the Adam
// update, bias-corrected moments), over a whole ParamTable: one loop over the arenas.
// Weight decay only where decays() says so (the reference's param groups), or on every tensor
// with decay_all (seq_icl's trainer hands all parameters to one group).
// Not a schedule: the caller passes the learning rate of each step.
#pragma once
#include <cstdint>

#include "core/buffer.hpp"
#include "core/param_table.hpp"

namespace mosaic {

// The reference's rule: no weight decay for biases, norms and per-head scalars
// (dim < 2, or shape ending in (1, 1)).
bool decays(const ParamEntry& e);

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
  bool decay_all = false;
};

template <class F>
class AdamW {
 public:
  AdamW(const ParamTable<F>& table, AdamWConfig config) : config_(config) {
    m_.resize(table.arena_size());
    v_.resize(table.arena_size());
  }
  // One update with the current grads; increments step().
  void update(ParamTable<F>& table, double lr);

  int64_t step() const { return step_; }
  void set_step(int64_t s) { step_ = s; }
  Buffer<F>& first_moment() { return m_; }
  Buffer<F>& second_moment() { return v_; }
  const AdamWConfig& config() const { return config_; }

 private:
  AdamWConfig config_;
  Buffer<F> m_, v_;
  int64_t step_ = 0;
};

}  // namespace mosaic
