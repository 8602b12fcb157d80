// Persistent memory: all B*T rows of one head hit the same slots, so each (bank, head) is a
// pair of plain gemms over N rows (row stride C) with a row softmax in between.
#include "layers/persistent_memory.hpp"

#include <cmath>

#include "kernels/gemm.hpp"
#include "kernels/softmax.hpp"

namespace mosaic {

constexpr double kOutExpScaling = 10;  // the reference's exp_scaling

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
  const int hs = C / H, n = static_cast<int>(N);
  const F* k = k_featurizer.forward(x, batch, time);
  probs.resize(static_cast<size_t>(count) * H * N * P);
  retrieved.resize(N * C);
  scale.resize(H);
  for (int h = 0; h < H; ++h) scale[h] = static_cast<F>(std::exp(kOutExpScaling * out_scale.value[h]) / count);
  for (int i = 0; i < count; ++i)
    for (int h = 0; h < H; ++h) {
      const int64_t slot = (static_cast<int64_t>(i) * H + h) * P * hs;
      F* a = probs.data() + (static_cast<int64_t>(i) * H + h) * N * P;
      gemm<F>(Op::N, Op::T, n, P, hs, F(1), k + h * hs, C, P_k.value + slot, hs, F(0), a, P);
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < N; ++r) softmax_prefix(a + r * P, P, P);
      gemm<F>(Op::N, Op::N, n, hs, P, F(1), a, P, P_v.value + slot, hs, F(1), retrieved.data() + h * hs, C);
    }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < N; ++r)
    for (int c = 0; c < C; ++c) retrieved[r * C + c] *= scale[c / hs];
  return c_proj.forward(retrieved.data(), N);
}

template <class F>
void PersistentMemory<F>::backward(const F* dy, F* dx) {
  const int hs = C / H, n = static_cast<int>(N);
  dretrieved.resize(N * C);
  c_proj.backward(dy, dretrieved.data());
  // y = z * scale_h: d out_scale_h = 10 * sum(dy . y); then dz = dy * scale_h, in place.
  for (int64_t r = 0; r < N; ++r)
    for (int c = 0; c < C; ++c) out_scale.grad[c / hs] += static_cast<F>(kOutExpScaling) * dretrieved[r * C + c] * retrieved[r * C + c];
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < N; ++r)
    for (int c = 0; c < C; ++c) dretrieved[r * C + c] *= scale[c / hs];
  dk.resize(N * C);
  dprobs.resize(N * P);
  const F* k = k_featurizer.k.data();
  for (int i = 0; i < count; ++i)
    for (int h = 0; h < H; ++h) {
      const int64_t slot = (static_cast<int64_t>(i) * H + h) * P * hs;
      const F* a = probs.data() + (static_cast<int64_t>(i) * H + h) * N * P;
      const F* dz = dretrieved.data() + h * hs;
      gemm<F>(Op::T, Op::N, P, hs, n, F(1), a, P, dz, C, F(1), P_v.grad + slot, hs);          // dP_v += A^T dz
      gemm<F>(Op::N, Op::T, n, P, hs, F(1), dz, C, P_v.value + slot, hs, F(0), dprobs.data(), P);  // dA = dz P_v^T
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < N; ++r) softmax_prefix_backward(dprobs.data() + r * P, a + r * P, P, P);
      gemm<F>(Op::N, Op::N, n, hs, P, F(1), dprobs.data(), P, P_k.value + slot, hs, F(1), dk.data() + h * hs, C);
      gemm<F>(Op::T, Op::N, P, hs, n, F(1), dprobs.data(), P, k + h * hs, C, F(1), P_k.grad + slot, hs);
    }
  k_featurizer.backward(dk.data(), dx);
}

template struct PersistentMemory<float>;
template struct PersistentMemory<double>;

}  // namespace mosaic
