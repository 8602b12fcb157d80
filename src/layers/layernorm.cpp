// LayerNorm layer: bookkeeping around kernels/layernorm.hpp.
#include "layers/layernorm.hpp"

#include "kernels/layernorm.hpp"

namespace mosaic {

constexpr double kLayerNormEps = 1e-5;  // PyTorch F.layer_norm as called by the reference

template <class F>
void LayerNorm<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  table.add(prefix + "weight", {C}, &weight);
  if (has_bias) table.add(prefix + "bias", {C}, &bias);
}

template <class F>
void LayerNorm<F>::plan(Activations<F>& acts, const std::string& prefix, int64_t rows) {
  acts.add(prefix + "y", {rows, C}, &y);
  acts.add(prefix + "mean", {rows}, &mean);
  acts.add(prefix + "rstd", {rows}, &rstd);
  if (out_scale != 1) acts.add(prefix + "dy_scaled", {rows, C}, &dy_scaled);
}

template <class F>
void LayerNorm<F>::apply(F* y_out, const F* input, int64_t rows) const {
  F mean_unused, rstd_unused;
  for (int64_t i = 0; i < rows; ++i)
    layernorm_row(y_out + i * C, &mean_unused, &rstd_unused, input + i * C, weight.value,
                  has_bias ? bias.value : nullptr, C, kLayerNormEps);
  if (out_scale != 1)
    for (int64_t i = 0; i < rows * C; ++i) y_out[i] *= static_cast<F>(out_scale);
}

template <class F>
const F* LayerNorm<F>::forward(const F* input, int64_t rows) {
  x = input;
  N = rows;
  layernorm_forward(y.data(), mean.data(), rstd.data(), x, weight.value, has_bias ? bias.value : nullptr, N, C,
                    kLayerNormEps);
  if (out_scale != 1)
    for (int64_t i = 0; i < N * C; ++i) y[i] *= static_cast<F>(out_scale);
  return y.data();
}

template <class F>
void LayerNorm<F>::backward(const F* dy, F* dx) {
  if (out_scale != 1) {
    for (int64_t i = 0; i < N * C; ++i) dy_scaled[i] = dy[i] * static_cast<F>(out_scale);
    dy = dy_scaled.data();
  }
  layernorm_backward(dx, weight.grad, has_bias ? bias.grad : nullptr, dy, x, weight.value, mean.data(),
                     rstd.data(), N, C);
}

template struct LayerNorm<float>;
template struct LayerNorm<double>;

}  // namespace mosaic
