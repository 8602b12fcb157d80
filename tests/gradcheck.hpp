// Float64 central-difference gradient checker shared by the gradient tests, and the one
// deliberate gradient error they inject to show that a check can fail where it runs.
// Not a unit test itself: test_gradients.cpp, test_kernels.cpp and test_three_moons.cpp drive it.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/rng.hpp"

namespace mosaic::testing {

// A tensor whose gradient is checked: its values (perturbed in place) and, after the
// analytic backward, its gradient.
struct GradTarget {
  std::string name;
  double* value;
  double* grad;
  size_t n;
};

struct GradCheckResult {
  double worst_error = 0;  // see the error formula below
  std::string worst_where;
  size_t checked = 0;
  std::string broken_entry;  // "name[i]" when a break was asked for
};

// Float64 numerics. The difference quotient is Romberg-extrapolated from steps h, h/2 and h/4,
// so its truncation error is O(h^6): the memories' normalised keys and sharp softmaxes have
// huge higher derivatives (a leaky-key beta in a 70-token model: Richardson's O(h^4) from h and
// h/2 still misses by 1e-6). Its rounding error is ~1e-16 |loss| / h; that bound (with a 10x
// margin, raised through GradCheckOptions for losses that round worse) is subtracted from
// |a - n| before the relative comparison. A tolerance of 1e-6 is far
// above what is left, and far below what any wrong term in a backward pass produces (1e-3 and up).
constexpr double kFiniteDiffStep = 1e-5;
constexpr double kGradTolerance = 1e-6;
// Near-zero entries are compared against the tensor's scale, not their own: the error is
// max(0, |a - n| - rounding) / (|a| + |n| + kScaleFloor * max|a over the tensor| + 1e-30).
constexpr double kScaleFloor = 1e-3;
constexpr double kRounding = 1e-15;  // 10 x float64 epsilon

// The entries of a tensor of n that are probed: all of them when n <= m, else m spread by the
// golden ratio, entry 0 first (a regular stride that is a multiple of the row length would
// probe a single column).
inline std::vector<size_t> probe_indices(size_t n, size_t m) {
  std::vector<size_t> at;
  if (n <= m) {
    for (size_t i = 0; i < n; ++i) at.push_back(i);
    return at;
  }
  for (size_t k = 0; k < m; ++k) at.push_back(static_cast<size_t>(std::fmod(k * 0.6180339887498949, 1.0) * n));
  std::sort(at.begin(), at.end());
  at.erase(std::unique(at.begin(), at.end()), at.end());
  return at;
}

// The deliberate error every "can it fail here" check uses: among `entries` of g, the one of
// largest magnitude is scaled by 1.001 (0.1% off). Where that entry is below `floor` (a
// gradient that is zero, or rounding noise, at this shape, so 0.1% of it is no error), floor is
// added to it instead. Returns its index.
constexpr double kBreakFactor = 1.001;
template <class F>
size_t break_gradient(F* g, const std::vector<size_t>& entries, double floor) {
  size_t at = entries.front();
  for (size_t i : entries)
    if (std::abs(g[i]) > std::abs(g[at])) at = i;
  g[at] = std::abs(g[at]) >= floor ? static_cast<F>(g[at] * kBreakFactor) : static_cast<F>(g[at] + floor);
  return at;
}

struct GradCheckOptions {
  size_t max_per_tensor = 40;  // entries probed per tensor (probe_indices)
  // When set, that target's gradient is broken right after backward (break_gradient among its
  // probed entries, floor 1e-3 of the largest gradient, or 1e-3 where all are 0): the result
  // shows whether the check can fail there.
  std::string break_tensor;
  // The loss's relative rounding, margin included. A loss that sums n terms in double rounds
  // at ~eps sqrt(n): its caller raises this.
  double loss_rounding = kRounding;
  // The rounding is relative to max(|loss|, this): a loss whose terms cancel rounds at the
  // size of its terms, not of their sum.
  double loss_magnitude = 0;
};

// loss(): a full forward returning a scalar. backward(): after a forward, zeroes and fills
// every target's grad.
inline GradCheckResult gradcheck(const std::function<double()>& loss, const std::function<void()>& backward,
                                 const std::vector<GradTarget>& targets, const GradCheckOptions& options) {
  const std::string& break_tensor = options.break_tensor;
  const size_t max_per_tensor = options.max_per_tensor;
  loss();
  backward();
  GradCheckResult result;
  std::vector<std::vector<size_t>> probes;
  for (const auto& t : targets) probes.push_back(probe_indices(t.n, max_per_tensor));
  if (!break_tensor.empty()) {
    size_t k = 0;
    while (k < targets.size() && targets[k].name != break_tensor) ++k;
    if (k == targets.size() || probes[k].empty()) throw std::invalid_argument("no gradient named " + break_tensor);
    double largest = 0;  // over every target
    for (const auto& t : targets)
      for (size_t i = 0; i < t.n; ++i) largest = std::max(largest, std::abs(t.grad[i]));
    const size_t at = break_gradient(targets[k].grad, probes[k], largest > 0 ? 1e-3 * largest : 1e-3);
    result.broken_entry = break_tensor + "[" + std::to_string(at) + "]";
  }
  std::vector<std::vector<double>> analytic;
  for (const auto& t : targets) analytic.emplace_back(t.grad, t.grad + t.n);
  for (size_t k = 0; k < targets.size(); ++k) {
    const auto& t = targets[k];
    double scale = 0;
    for (double a : analytic[k]) scale = std::max(scale, std::abs(a));
    for (size_t i : probes[k]) {
      const double saved = t.value[i];
      double rounding = 0;
      auto central = [&](double h) {
        t.value[i] = saved + h;
        const double up = loss();
        t.value[i] = saved - h;
        const double down = loss();
        t.value[i] = saved;
        rounding = std::max(rounding, options.loss_rounding *
                                          std::max({std::abs(up), std::abs(down), options.loss_magnitude}) / h);
        return (up - down) / (2 * h);
      };
      // Romberg over h, h/2, h/4: (64 D(h/4) - 20 D(h/2) + D(h)) / 45 cancels the h^2 and h^4 terms.
      const double numeric =
          (64 * central(kFiniteDiffStep / 4) - 20 * central(kFiniteDiffStep / 2) + central(kFiniteDiffStep)) / 45;
      const double a = analytic[k][i];
      const double err = std::max(0.0, std::abs(a - numeric) - rounding) /
                         (std::abs(a) + std::abs(numeric) + kScaleFloor * scale + 1e-30);
      ++result.checked;
      if (err > result.worst_error) {
        result.worst_error = err;
        char buf[96];
        std::snprintf(buf, sizeof buf, "] analytic %.9e numeric %.9e", a, numeric);
        result.worst_where = t.name + "[" + std::to_string(i) + buf;
      }
    }
  }
  return result;
}

inline GradCheckResult gradcheck(const std::function<double()>& loss, const std::function<void()>& backward,
                                 const std::vector<GradTarget>& targets, size_t max_per_tensor = 40) {
  GradCheckOptions options;
  options.max_per_tensor = max_per_tensor;
  return gradcheck(loss, backward, targets, options);
}

inline void fill_normal(double* p, size_t n, Rng& rng, double std) {
  for (size_t i = 0; i < n; ++i) p[i] = rng.normal() * std;
}

}  // namespace mosaic::testing
