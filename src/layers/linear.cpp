// Linear: one gemm (or a row loop for one row) forward, two gemms and a column sum backward.
#include "layers/linear.hpp"

#include <type_traits>

#include "kernels/gemm.hpp"
#include "kernels/matvec.hpp"

namespace mosaic {

template <class F>
void Linear<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  table.add(prefix + "weight", {out, in}, &weight);
  if (has_bias) table.add(prefix + "bias", {out}, &bias);
}

template <class F>
void Linear<F>::apply(F* y_out, const F* input, int64_t rows) const {
  const F* b = has_bias ? bias.value : nullptr;
  if constexpr (std::is_same_v<F, float>) {
    if (rows == 1) {
      matvec(y_out, weight.value, input, b, out, in);
      return;
    }
  }
  gemm<F>(Op::N, Op::T, static_cast<int>(rows), out, in, F(1), input, in, weight.value, in, F(0), y_out, out);
  if (b) {
#pragma omp parallel for schedule(static) if (rows >= 64)
    for (int64_t i = 0; i < rows; ++i)
      for (int o = 0; o < out; ++o) y_out[i * out + o] += b[o];
  }
}

template <class F>
const F* Linear<F>::forward(const F* input, int64_t rows) {
  x = input;
  N = rows;
  apply(y.data(), x, N);
  return y.data();
}

template <class F>
void Linear<F>::backward(const F* dy, F* dx) {
  const int n = static_cast<int>(N);
  gemm<F>(Op::T, Op::N, out, in, n, F(1), dy, out, x, in, F(1), weight.grad, in);  // dW += dy^T x
  if (dx) gemm<F>(Op::N, Op::N, n, in, out, F(1), dy, out, weight.value, in, F(1), dx, in);  // dx += dy W
  if (has_bias)
    for (int64_t i = 0; i < N; ++i)
      for (int o = 0; o < out; ++o) bias.grad[o] += dy[i * out + o];
}

template struct Linear<float>;
template struct Linear<double>;

}  // namespace mosaic
