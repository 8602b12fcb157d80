// Row softmax over a prefix of each row, its backward, and cross-entropy over logits.
// Raw loops; numerically stable (max subtracted). Rows are contiguous with stride ld.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <omp.h>

#include "kernels/vector_math.hpp"

namespace mosaic {

// In place: row[0, n) becomes softmax(row[0, n)); row[n, len) is set to 0. n = 0 gives zeros.
template <class F>
void softmax_prefix(F* row, int n, int len) {
  if (n > 0) {
    exp_shifted(row, row, n, lane_max(row, n));
    const F inv = static_cast<F>(1.0 / lane_sum(row, n));
    for (int j = 0; j < n; ++j) row[j] *= inv;
  }
  for (int j = n; j < len; ++j) row[j] = F(0);
}

// Given p = softmax(s) and dp = dL/dp over the first n entries, overwrites dp with dL/ds.
template <class F>
void softmax_prefix_backward(F* dp, const F* p, int n, int len) {
  const F dot = static_cast<F>(lane_dot(dp, p, n));
  for (int j = 0; j < n; ++j) dp[j] = p[j] * (dp[j] - dot);
  for (int j = n; j < len; ++j) dp[j] = F(0);
}

// Cross-entropy over rows whose target is not -1 (PyTorch's ignore_index), in place on the
// logits: writes each row's loss (0 for ignored rows) and, with grad_scale != 0, overwrites the
// row with grad_scale * (softmax(z) - onehot(target)) (zeros for ignored rows); without, the
// row is left as exp(z - max). One exponential pass per row either way.
template <class F>
void cross_entropy_rows(F* logits, F* row_loss, const int32_t* targets, int64_t rows, int V, F grad_scale) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < rows; ++i) {
    F* z = logits + i * V;
    const int32_t t = targets[i];
    if (t < 0) {
      row_loss[i] = F(0);
      if (grad_scale != F(0)) std::fill(z, z + V, F(0));
      continue;
    }
    const F mx = lane_max(z, V);
    const F zt = z[t];
    const double sum = exp_shifted_sum(z, z, V, mx);
    row_loss[i] = static_cast<F>(std::log(sum) + mx - zt);
    if (grad_scale == F(0)) continue;
    const F factor = static_cast<F>(grad_scale / sum);
    for (int j = 0; j < V; ++j) z[j] *= factor;
    z[t] -= grad_scale;
  }
}

}  // namespace mosaic
