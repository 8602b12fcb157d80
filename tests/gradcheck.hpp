// Float64 central-difference gradient checker used by every layer test.
// Not a unit test itself: test_gradients.cpp drives it.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.hpp"

namespace mosaic::testing {

// A tensor whose gradient is checked: its values (perturbed in place) and, after the
// analytic backward, its gradient.
struct GradTarget {
  std::string name;
  double* value;
  const double* grad;
  size_t n;
};

struct GradCheckResult {
  double worst_error = 0;  // see the error formula below
  std::string worst_where;
  size_t checked = 0;
};

// Float64 numerics. The difference quotient is Richardson-extrapolated from steps h and h/2,
// so its truncation error is O(h^4) (the memories' normalised keys and sharp softmaxes have
// third derivatives of 1e5 and more, which a plain central difference misreads by ~1e-8) and
// its rounding error ~1e-16 |loss| / h. The rounding bound (with a 10x margin) is subtracted
// from |a - n| before the relative comparison. A tolerance of 1e-6 is far above what is left,
// and far below what any wrong term in a backward pass produces (1e-3 and up).
constexpr double kFiniteDiffStep = 1e-5;
constexpr double kGradTolerance = 1e-6;
// Near-zero entries are compared against the tensor's scale, not their own: the error is
// max(0, |a - n| - rounding) / (|a| + |n| + kScaleFloor * max|a over the tensor| + 1e-30).
constexpr double kScaleFloor = 1e-3;
constexpr double kRounding = 1e-15;  // 10 x float64 epsilon

// loss(): a full forward returning a scalar. backward(): after a forward, zeroes and fills
// every target's grad. At most max_per_tensor entries per tensor are probed (spread evenly).
inline GradCheckResult gradcheck(const std::function<double()>& loss, const std::function<void()>& backward,
                                 const std::vector<GradTarget>& targets, size_t max_per_tensor = 40) {
  loss();
  backward();
  std::vector<std::vector<double>> analytic;
  for (const auto& t : targets) analytic.emplace_back(t.grad, t.grad + t.n);
  GradCheckResult result;
  for (size_t k = 0; k < targets.size(); ++k) {
    const auto& t = targets[k];
    double scale = 0;
    for (double a : analytic[k]) scale = std::max(scale, std::abs(a));
    const size_t stride = std::max<size_t>(1, t.n / max_per_tensor);
    for (size_t i = 0; i < t.n; i += stride) {
      const double saved = t.value[i];
      double rounding = 0;
      auto central = [&](double h) {
        t.value[i] = saved + h;
        const double up = loss();
        t.value[i] = saved - h;
        const double down = loss();
        t.value[i] = saved;
        rounding = std::max(rounding, kRounding * std::max(std::abs(up), std::abs(down)) / h);
        return (up - down) / (2 * h);
      };
      const double numeric = (4 * central(kFiniteDiffStep / 2) - central(kFiniteDiffStep)) / 3;
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

inline void fill_normal(double* p, size_t n, Rng& rng, double std) {
  for (size_t i = 0; i < n; ++i) p[i] = rng.normal() * std;
}

}  // namespace mosaic::testing
