// Value extractor: Linear, look-ahead mix, normalise-and-scale, parallel over sequences.
#include "layers/value_extractor.hpp"

#include <cmath>

#include "kernels/memory_features.hpp"

namespace mosaic {

constexpr double kValExpScaling = 10;  // the reference's exp_scaling

template <class F>
void ValueExtractor<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  table.add(prefix + "coef", {1, H, 1, 1}, &coef);
  table.add(prefix + "val_scale", {1, H, 1, 1}, &val_scale);
  W_v.register_params(table, prefix + "W_v.");
}

template <class F>
const F* ValueExtractor<F>::forward(const F* x, int batch, int time) {
  B = batch;
  T = time;
  const int hs = C / H;
  const int64_t N = static_cast<int64_t>(B) * T;
  const F* vt = W_v.forward(x, N);
  scale.resize(H);
  for (int h = 0; h < H; ++h) scale[h] = static_cast<F>(std::exp(kValExpScaling * val_scale.value[h]));
  vbar.resize(N * C);
  norm.resize(N * H);
  v.resize(N * C);
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; ++b) {
    const int64_t off = static_cast<int64_t>(b) * T * C;
    lookahead_forward(vbar.data() + off, vt + off, coef.value, T, C, hs);
    normalize_scale_forward(v.data() + off, norm.data() + static_cast<int64_t>(b) * T * H, vbar.data() + off,
                            scale.data(), T, C, hs);
  }
  return v.data();
}

template <class F>
void ValueExtractor<F>::backward(const F* dv, F* dx) {
  const int hs = C / H;
  const int64_t N = static_cast<int64_t>(B) * T;
  dvbar.resize(N * C);
  dvt.resize(N * C);
  partial.resize(2 * static_cast<size_t>(B) * H);  // [dlogscale | dcoef] per (b, h)
  F* dlogscale = partial.data();
  F* dcoef = partial.data() + static_cast<int64_t>(B) * H;
  const F* vt = W_v.y.data();
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; ++b) {
    const int64_t off = static_cast<int64_t>(b) * T * C;
    normalize_scale_backward(dvbar.data() + off, dlogscale + b * H, dv + off, v.data() + off, vbar.data() + off,
                             norm.data() + static_cast<int64_t>(b) * T * H, scale.data(), T, C, hs);
    lookahead_backward(dvt.data() + off, dcoef + b * H, dvbar.data() + off, vt + off, coef.value, T, C, hs);
  }
  for (int h = 0; h < H; ++h)
    for (int b = 0; b < B; ++b) {
      val_scale.grad[h] += static_cast<F>(kValExpScaling * dlogscale[b * H + h]);
      coef.grad[h] += dcoef[b * H + h];
    }
  W_v.backward(dvt.data(), dx);
}

template struct ValueExtractor<float>;
template struct ValueExtractor<double>;

}  // namespace mosaic
