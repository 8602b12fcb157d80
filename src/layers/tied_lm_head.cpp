// Tied LM head + cross-entropy: one gemm each way, softmax loops in kernels/softmax.hpp.
#include "layers/tied_lm_head.hpp"

#include <omp.h>

#include "kernels/gemm.hpp"
#include "kernels/softmax.hpp"

namespace mosaic {

template <class F>
F TiedLmHead<F>::forward(const F* input, int64_t rows, const int32_t* target_ids) {
  x = input;
  N = rows;
  targets = target_ids;
  const int V = wte->V, C = wte->C;
  logits.resize(N * V);
  gemm<F>(Op::N, Op::T, static_cast<int>(N), V, C, F(1), x, C, wte->weight.value, C, F(0), logits.data(), V);
  if (!targets) return F(0);
  row_loss.resize(N);
  row_max.resize(N);
  row_sum.resize(N);
  scratch.resize(static_cast<size_t>(omp_get_max_threads()) * V);
  counted = cross_entropy_forward(row_loss.data(), row_max.data(), row_sum.data(), scratch.data(), logits.data(),
                                  targets, N, V);
  double sum = 0;
  for (int64_t i = 0; i < N; ++i) sum += row_loss[i];
  return counted ? static_cast<F>(sum / counted) : F(0);
}

template <class F>
void TiedLmHead<F>::backward(F loss_scale, F* dx) {
  const int V = wte->V, C = wte->C;
  F* dlogits = logits.data();
  cross_entropy_backward(dlogits, logits.data(), row_max.data(), row_sum.data(), targets, N, V,
                         counted ? loss_scale / F(counted) : F(0));
  gemm<F>(Op::T, Op::N, V, C, static_cast<int>(N), F(1), dlogits, V, x, C, F(1), wte->weight.grad, C);
  gemm<F>(Op::N, Op::N, static_cast<int>(N), C, V, F(1), dlogits, V, wte->weight.value, C, F(1), dx, C);
}

template struct TiedLmHead<float>;
template struct TiedLmHead<double>;

}  // namespace mosaic
