// AdamW update, written in PyTorch's operation order so that fp32 results agree to rounding.
#include "train/adamw.hpp"

#include <cmath>

namespace mosaic {

bool decays(const ParamEntry& e) {
  const size_t d = e.shape.size();
  return d >= 2 && !(e.shape[d - 2] == 1 && e.shape[d - 1] == 1);
}

template <class F>
void AdamW<F>::update(ParamTable<F>& table, double lr) {
  ++step_;
  const F b1 = static_cast<F>(config_.beta1), b2 = static_cast<F>(config_.beta2);
  const double bias1 = 1 - std::pow(config_.beta1, static_cast<double>(step_));
  const double bias2 = 1 - std::pow(config_.beta2, static_cast<double>(step_));
  const F step_size = static_cast<F>(lr / bias1);
  const F bias2_sqrt = static_cast<F>(std::sqrt(bias2));
  const F eps = static_cast<F>(config_.eps);
  for (const auto& e : table.entries()) {
    F* p = table.value(e);
    const F* g = table.grad(e);
    F* m = m_.data() + e.offset;
    F* v = v_.data() + e.offset;
    const F decay = config_.decay_all || decays(e) ? static_cast<F>(1 - lr * config_.weight_decay) : F(1);
#pragma omp parallel for schedule(static) if (e.numel > 65536)
    for (size_t i = 0; i < e.numel; ++i) {
      p[i] *= decay;
      m[i] += (g[i] - m[i]) * (F(1) - b1);  // torch: exp_avg.lerp_(grad, 1 - beta1)
      v[i] = v[i] * b2 + (F(1) - b2) * g[i] * g[i];
      const F denom = std::sqrt(v[i]) / bias2_sqrt + eps;
      p[i] -= step_size * m[i] / denom;
    }
  }
}

template class AdamW<float>;
template class AdamW<double>;

}  // namespace mosaic
