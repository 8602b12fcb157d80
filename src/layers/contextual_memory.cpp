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
void ContextualMemory<F>::plan(Activations<F>& acts, const std::string& prefix, int batch, int time) {
  k_featurizer.plan(acts, prefix + "k_featurizer.", batch, time);
  v_featurizer.plan(acts, prefix + "v_featurizer.", batch, time);
  c_proj.plan(acts, prefix + "c_proj.", static_cast<int64_t>(batch) * time);
  for (auto [name, slot] : {std::pair{"retrieved", &retrieved}, {"dretrieved", &dretrieved}, {"dk", &dk}, {"dv", &dv}})
    acts.add(prefix + name, {batch, time, C}, slot);
  acts.add(prefix + "probs", {batch, H, time, time}, &probs);
  acts.add(prefix + "dprobs", {batch, H, time, time}, &dprobs);
}

template <class F>
const F* ContextualMemory<F>::forward(const F* x, int batch, int time) {
  B = batch;
  T = time;
  const int hs = C / H;
  k = k_featurizer.forward(x, B, T);
  v = v_featurizer.forward(x, B, T);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const int64_t off = static_cast<int64_t>(b) * T * C + h * hs;
      const int64_t tt = (static_cast<int64_t>(b) * H + h) * T * T;
      attention_forward(retrieved.data() + off, C, probs.data() + tt, k + off, k + off, v + off, C, T, hs, F(1),
                        kVisible, {.drop = &prob_drop, .slice = static_cast<uint64_t>(b) * H + h, .dropped = dprobs.data() + tt});
    }
  return c_proj.forward(retrieved.data(), static_cast<int64_t>(B) * T);
}

template <class F>
void ContextualMemory<F>::backward(const F* dy, F* dx) {
  const int hs = C / H;
  dretrieved.zero();
  c_proj.backward(dy, dretrieved.data());
  dk.zero();
  dv.zero();
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const int64_t off = static_cast<int64_t>(b) * T * C + h * hs;
      const int64_t tt = (static_cast<int64_t>(b) * H + h) * T * T;
      // keys are also the queries: both of their gradients land in dk
      attention_backward(dk.data() + off, dk.data() + off, dv.data() + off, dprobs.data() + tt,
                         dretrieved.data() + off, C, probs.data() + tt, k + off, k + off, v + off, C, T, hs, F(1),
                         kVisible, {.drop = &prob_drop, .slice = static_cast<uint64_t>(b) * H + h});
    }
  k_featurizer.backward(dk.data(), dx);
  v_featurizer.backward(dv.data(), dx);
}

template struct ContextualMemory<float>;
template struct ContextualMemory<double>;

}  // namespace mosaic
