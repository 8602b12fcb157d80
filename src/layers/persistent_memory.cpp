// Persistent memory. Per (block of kRows rows, head) task, in parallel: scores gemm, softmax,
// read-out gemm, each block's (kRows, P) scores still in cache for the next step (OpenBLAS
// runs single-threaded inside the parallel loop). Parameter gradients sum over all rows, so
// they are whole-N gemms outside it, which also keeps every sum's order independent of the
// thread count.
#include "layers/persistent_memory.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/softmax.hpp"

namespace mosaic {

constexpr double kOutExpScaling = 10;  // the reference's exp_scaling
constexpr int kRows = 64;              // rows per task: a (64, P) block of scores stays in L2

template <class F>
void PersistentMemory<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  const int hs = C / H;
  table.add(prefix + "P_k", {count, 1, H, P, hs}, &P_k);
  table.add(prefix + "P_v", {count, 1, H, P, hs}, &P_v);
  table.add(prefix + "out_scale", {1, H, 1, 1}, &out_scale);
  k_featurizer.register_params(table, prefix + "k_featurizer.");
  c_proj.register_params(table, prefix + "c_proj.");
}

template <class F>
const F* PersistentMemory<F>::forward(const F* x, int batch, int time) {
  N = static_cast<int64_t>(batch) * time;
  const int hs = C / H;
  const F* k = k_featurizer.forward(x, batch, time);
  probs.resize_for_overwrite(static_cast<size_t>(count) * H * N * P);
  retrieved.resize_for_overwrite(N * C);
  scale.resize(H);
  for (int h = 0; h < H; ++h) scale[h] = static_cast<F>(std::exp(kOutExpScaling * out_scale.value[h]) / count);
  const int64_t blocks = (N + kRows - 1) / kRows;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int h = 0; h < H; ++h) {
      const int64_t r0 = blk * kRows;
      const int rows = static_cast<int>(std::min<int64_t>(kRows, N - r0));
      F* z = retrieved.data() + r0 * C + h * hs;
      for (int i = 0; i < count; ++i) {
        const int64_t slot = (static_cast<int64_t>(i) * H + h) * P * hs;
        F* a = probs.data() + ((static_cast<int64_t>(i) * H + h) * N + r0) * P;
        gemm<F>(Op::N, Op::T, rows, P, hs, F(1), k + r0 * C + h * hs, C, P_k.value + slot, hs, F(0), a, P);
        for (int r = 0; r < rows; ++r) softmax_prefix(a + static_cast<int64_t>(r) * P, P, P);
        gemm<F>(Op::N, Op::N, rows, hs, P, F(1), a, P, P_v.value + slot, hs, i ? F(1) : F(0), z, C);
      }
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < hs; ++c) z[static_cast<int64_t>(r) * C + c] *= scale[h];
    }
  return c_proj.forward(retrieved.data(), N);
}

template <class F>
void PersistentMemory<F>::backward(const F* dy, F* dx) {
  const int hs = C / H, n = static_cast<int>(N);
  dretrieved.resize(N * C);
  c_proj.backward(dy, dretrieved.data());
  // y = z * scale_h: d out_scale_h = 10 * sum(dy . y); then dz = dy * scale_h, in place.
  {
    std::vector<F> column(C, F(0));  // per-column sums first: the row loop vectorises over columns
    for (int64_t r = 0; r < N; ++r)
      for (int c = 0; c < C; ++c) column[c] += dretrieved[r * C + c] * retrieved[r * C + c];
    for (int c = 0; c < C; ++c) out_scale.grad[c / hs] += static_cast<F>(kOutExpScaling) * column[c];
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < N; ++r)
    for (int c = 0; c < C; ++c) dretrieved[r * C + c] *= scale[c / hs];
  for (int i = 0; i < count; ++i)  // dP_v += A^T dz, before the scores are overwritten
    for (int h = 0; h < H; ++h) {
      const int64_t slot = (static_cast<int64_t>(i) * H + h) * P * hs;
      const F* a = probs.data() + (static_cast<int64_t>(i) * H + h) * N * P;
      gemm<F>(Op::T, Op::N, P, hs, n, F(1), a, P, dretrieved.data() + h * hs, C, F(1), P_v.grad + slot, hs);
    }
  dk.resize_for_overwrite(N * C);
  dprobs.resize_for_overwrite(static_cast<size_t>(omp_get_max_threads()) * kRows * P);
  const int64_t blocks = (N + kRows - 1) / kRows;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int h = 0; h < H; ++h) {
      const int64_t r0 = blk * kRows;
      const int rows = static_cast<int>(std::min<int64_t>(kRows, N - r0));
      F* da = dprobs.data() + static_cast<int64_t>(omp_get_thread_num()) * kRows * P;
      const F* dz = dretrieved.data() + r0 * C + h * hs;
      for (int i = 0; i < count; ++i) {
        const int64_t slot = (static_cast<int64_t>(i) * H + h) * P * hs;
        F* a = probs.data() + ((static_cast<int64_t>(i) * H + h) * N + r0) * P;
        gemm<F>(Op::N, Op::T, rows, P, hs, F(1), dz, C, P_v.value + slot, hs, F(0), da, P);  // dA = dz P_v^T
        for (int r = 0; r < rows; ++r) {  // dS = softmax backward, stored over A for the dP_k gemm
          softmax_prefix_backward(da + static_cast<int64_t>(r) * P, a + static_cast<int64_t>(r) * P, P, P);
          std::copy(da + static_cast<int64_t>(r) * P, da + static_cast<int64_t>(r + 1) * P, a + static_cast<int64_t>(r) * P);
        }
        gemm<F>(Op::N, Op::N, rows, hs, P, F(1), a, P, P_k.value + slot, hs, i ? F(1) : F(0), dk.data() + r0 * C + h * hs, C);
      }
    }
  const F* k = k_featurizer.k.data();
  for (int i = 0; i < count; ++i)  // dP_k += dS^T k
    for (int h = 0; h < H; ++h) {
      const int64_t slot = (static_cast<int64_t>(i) * H + h) * P * hs;
      const F* ds = probs.data() + (static_cast<int64_t>(i) * H + h) * N * P;
      gemm<F>(Op::T, Op::N, P, hs, n, F(1), ds, P, k + h * hs, C, F(1), P_k.grad + slot, hs);
    }
  k_featurizer.backward(dk.data(), dx);
}

template struct PersistentMemory<float>;
template struct PersistentMemory<double>;

}  // namespace mosaic
