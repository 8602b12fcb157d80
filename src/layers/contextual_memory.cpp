// Contextual memory: key and value extractors, attention with the diagonal excluded
// (kernels/attention.hpp, parallel over (batch, head)), output projection.
#include "layers/contextual_memory.hpp"

#include "kernels/attention.hpp"

namespace mosaic {

template <class F>
void ContextualMemory<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  k_featurizer.register_params(table, prefix + "k_featurizer.");
  v_featurizer.register_params(table, prefix + "v_featurizer.");
  c_proj.register_params(table, prefix + "c_proj.");
}

template <class F>
const F* ContextualMemory<F>::forward(const F* x, int batch, int time) {
  B = batch;
  T = time;
  const int hs = C / H;
  const F* k = k_featurizer.forward(x, B, T);
  const F* v = v_featurizer.forward(x, B, T);
  retrieved.resize_for_overwrite(static_cast<size_t>(B) * T * C);
  probs.resize_for_overwrite(static_cast<size_t>(B) * H * T * T);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const int64_t off = static_cast<int64_t>(b) * T * C + h * hs;
      attention_forward(retrieved.data() + off, C, probs.data() + (static_cast<int64_t>(b) * H + h) * T * T, k + off,
                        k + off, v + off, C, T, hs, F(1), Visible::BeforeSelf);
    }
  return c_proj.forward(retrieved.data(), static_cast<int64_t>(B) * T);
}

template <class F>
void ContextualMemory<F>::backward(const F* dy, F* dx) {
  const int hs = C / H;
  const int64_t N = static_cast<int64_t>(B) * T;
  dretrieved.resize(N * C);
  c_proj.backward(dy, dretrieved.data());
  dk.resize(N * C);
  dv.resize(N * C);
  scratch.resize_for_overwrite(static_cast<size_t>(B) * H * T * T);
  const F* k = k_featurizer.k.data();
  const F* v = v_featurizer.v.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const int64_t off = static_cast<int64_t>(b) * T * C + h * hs;
      const int64_t tt = (static_cast<int64_t>(b) * H + h) * T * T;
      // keys are also the queries: both of their gradients land in dk
      attention_backward(dk.data() + off, dk.data() + off, dv.data() + off, scratch.data() + tt,
                         dretrieved.data() + off, C, probs.data() + tt, k + off, k + off, v + off, C, T, hs, F(1),
                         Visible::BeforeSelf);
    }
  k_featurizer.backward(dk.data(), dx);
  v_featurizer.backward(dv.data(), dx);
}

template struct ContextualMemory<float>;
template struct ContextualMemory<double>;

}  // namespace mosaic
