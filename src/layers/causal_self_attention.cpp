// Causal self-attention: bookkeeping around kernels/attention.hpp, parallel over (batch, head).
#include "layers/causal_self_attention.hpp"

#include <cmath>

#include "kernels/attention.hpp"

namespace mosaic {

template <class F>
void CausalSelfAttention<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  c_attn.register_params(table, prefix + "c_attn.");
  c_proj.register_params(table, prefix + "c_proj.");
}

template <class F>
const F* CausalSelfAttention<F>::forward(const F* x, int batch, int time) {
  B = batch;
  T = time;
  const int hs = C / H;
  const F* qkv = c_attn.forward(x, static_cast<int64_t>(B) * T);
  heads.resize_for_overwrite(static_cast<size_t>(B) * T * C);
  probs.resize_for_overwrite(static_cast<size_t>(B) * H * T * T);
  const F scale = F(1) / std::sqrt(F(hs));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const F* q = qkv + static_cast<int64_t>(b) * T * 3 * C + h * hs;  // q | k | v blocks of C
      attention_forward(heads.data() + static_cast<int64_t>(b) * T * C + h * hs, C,
                        probs.data() + (static_cast<int64_t>(b) * H + h) * T * T, q, q + C, q + 2 * C, 3 * C, T, hs,
                        scale, Visible::UpToSelf);
    }
  return c_proj.forward(heads.data(), static_cast<int64_t>(B) * T);
}

template <class F>
void CausalSelfAttention<F>::backward(const F* dy, F* dx) {
  const int hs = C / H;
  const int64_t N = static_cast<int64_t>(B) * T;
  dheads.resize(N * C);
  c_proj.backward(dy, dheads.data());
  dqkv.resize(N * 3 * C);
  scratch.resize_for_overwrite(static_cast<size_t>(B) * H * T * T);
  const F* qkv = c_attn.y.data();
  const F scale = F(1) / std::sqrt(F(hs));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const int64_t off = static_cast<int64_t>(b) * T * 3 * C + h * hs;
      F* d = dqkv.data() + off;
      attention_backward(d, d + C, d + 2 * C, scratch.data() + (static_cast<int64_t>(b) * H + h) * T * T,
                         dheads.data() + static_cast<int64_t>(b) * T * C + h * hs, C,
                         probs.data() + (static_cast<int64_t>(b) * H + h) * T * T, qkv + off, qkv + off + C,
                         qkv + off + 2 * C, 3 * C, T, hs, scale, Visible::UpToSelf);
    }
  c_attn.backward(dqkv.data(), dx);
}

template struct CausalSelfAttention<float>;
template struct CausalSelfAttention<double>;

}  // namespace mosaic
