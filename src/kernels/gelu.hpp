// GELU, exact erf form: PyTorch's nn.GELU() default, which the reference GPT (nanoGPT) uses.
// Shapes: flat arrays of n elements. Threads only for long arrays: a streamed token's 4C
// elements must not wake a thread team.
#pragma once
#include <cmath>
#include <cstdint>

namespace mosaic {

constexpr int64_t kGeluParallelMin = 1 << 15;

template <class F>
inline F gelu(F x) {
  return F(0.5) * x * (F(1) + std::erf(x * F(M_SQRT1_2)));
}

// out may be x (in place).
template <class F>
void gelu_forward(F* out, const F* x, int64_t n) {
  if (n < kGeluParallelMin) {  // not even an inactive parallel region: it costs a team set-up
    for (int64_t i = 0; i < n; ++i) out[i] = gelu(x[i]);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = gelu(x[i]);
}

// Accumulates into dx.
template <class F>
void gelu_backward(F* dx, const F* x, const F* dout, int64_t n) {
  const F inv_sqrt_2pi = F(0.3989422804014327);
#pragma omp parallel for schedule(static) if (n >= kGeluParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    F cdf = F(0.5) * (F(1) + std::erf(x[i] * F(M_SQRT1_2)));
    F pdf = inv_sqrt_2pi * std::exp(F(-0.5) * x[i] * x[i]);
    dx[i] += dout[i] * (cdf + x[i] * pdf);
  }
}

}  // namespace mosaic
