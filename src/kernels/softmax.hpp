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
  double dot = 0;
  for (int j = 0; j < n; ++j) dot += static_cast<double>(dp[j]) * p[j];
  for (int j = 0; j < n; ++j) dp[j] = p[j] * (dp[j] - static_cast<F>(dot));
  for (int j = n; j < len; ++j) dp[j] = F(0);
}

// Cross-entropy over rows whose target is not -1 (PyTorch's ignore_index). Writes per-row
// losses (0 for ignored rows) and each row's max and exp-sum for the backward pass (so the
// exponentials run once per pass); returns the number of counted rows. scratch: V per thread.
template <class F>
int64_t cross_entropy_forward(F* row_loss, F* row_max, F* row_sum, F* scratch, const F* logits, const int32_t* targets,
                              int64_t N, int V) {
  int64_t counted = 0;
#pragma omp parallel for schedule(static) reduction(+ : counted)
  for (int64_t i = 0; i < N; ++i) {
    const F* z = logits + i * V;
    F* e = scratch + static_cast<int64_t>(omp_get_thread_num()) * V;
    const F mx = lane_max(z, V);
    exp_shifted(e, z, V, mx);
    const double sum = lane_sum(e, V);
    row_max[i] = mx;
    row_sum[i] = static_cast<F>(sum);
    row_loss[i] = targets[i] < 0 ? F(0) : static_cast<F>(std::log(sum) + mx - z[targets[i]]);
    counted += targets[i] >= 0;
  }
  return counted;
}

// dlogits = scale * (softmax(logits) - onehot(target)) for counted rows, 0 for ignored ones.
// Overwrites dlogits (it may alias logits).
template <class F>
void cross_entropy_backward(F* dlogits, const F* logits, const F* row_max, const F* row_sum, const int32_t* targets,
                            int64_t N, int V, F scale) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    const F* z = logits + i * V;
    F* dz = dlogits + i * V;
    if (targets[i] < 0) {
      std::fill(dz, dz + V, F(0));
      continue;
    }
    const F mx = row_max[i], factor = scale / row_sum[i];
    for (int j = 0; j < V; ++j) dz[j] = exp_approx(z[j] - mx) * factor;
    dz[targets[i]] -= scale;
  }
}

}  // namespace mosaic
