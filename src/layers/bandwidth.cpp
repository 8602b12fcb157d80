// The adaptive bandwidth's formula and its gradient (clamps pass no gradient where active, as
// torch.clamp and torch.min do; |.| has slope 0 at 0, as torch.abs).
#include "layers/bandwidth.hpp"

#include <algorithm>
#include <cmath>

namespace mosaic {

namespace {
constexpr double kLogBetaMax = 10;  // table 6: exp(min(t, 10))
double sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }
}  // namespace

template <class F>
void Bandwidth<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  table.add(prefix + "beta0", {H}, &beta0);
  table.add(prefix + "beta1", {H}, &beta1);
  if (adaptive) table.add(prefix + "alpha", {H}, &alpha);
}

template <class F>
F Bandwidth<F>::beta(int h, int n) const {
  const double b0 = std::exp(std::min<double>(beta0.value[h], kLogBetaMax));
  const double b1 = std::exp(std::min<double>(beta1.value[h], kLogBetaMax));
  const double a = adaptive ? std::min(std::abs(static_cast<double>(alpha.value[h])), 1.0) : 0.0;
  return static_cast<F>(b1 * (adaptive ? std::pow(static_cast<double>(n), a) : 1.0) + b0);
}

template <class F>
void Bandwidth<F>::backward(int h, const F* dbeta, const int* counts, int rows) {
  const double t0 = beta0.value[h], t1 = beta1.value[h];
  const double b0 = std::exp(std::min(t0, kLogBetaMax)), b1 = std::exp(std::min(t1, kLogBetaMax));
  const double ta = adaptive ? static_cast<double>(alpha.value[h]) : 0.0, a = std::min(std::abs(ta), 1.0);
  double d0 = 0, d1 = 0, da = 0;
  for (int r = 0; r < rows; ++r) {
    const double n = counts[r], g = dbeta[r];
    const double na = adaptive ? std::pow(n, a) : 1.0;
    d0 += g;
    d1 += g * na;
    if (adaptive && n > 0) da += g * b1 * na * std::log(n);
  }
  if (t0 < kLogBetaMax) beta0.grad[h] += static_cast<F>(d0 * b0);
  if (t1 < kLogBetaMax) beta1.grad[h] += static_cast<F>(d1 * b1);
  if (adaptive && std::abs(ta) < 1) alpha.grad[h] += static_cast<F>(da * sign(ta));
}

template struct Bandwidth<float>;
template struct Bandwidth<double>;

}  // namespace mosaic
