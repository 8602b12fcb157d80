// Contextual memory: key and value extractors, attention with the diagonal excluded
// (kernels/attention.hpp, parallel over (batch, head)), output projection; the stream's step.
#include "layers/contextual_memory.hpp"

#include <algorithm>

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

template <class F>
void ContextualMemory<F>::Stream::reset() {
  keys.reset();
  values.reset();
  for (auto& store : stores) store.clear();
  position = 0;
}

template <class F>
typename ContextualMemory<F>::Stream ContextualMemory<F>::start_stream(const StreamSettings& settings) const {
  Stream s;
  s.keys = k_featurizer.start_stream(settings.max_rows);
  s.values = v_featurizer.start_stream(settings.max_rows);
  s.pending_key.assign(C, F(0));
  s.stores.assign(H, MemoryStore<F>(C / H, settings.memory));
  for (auto* b : {&s.k, &s.v, &s.retrieved}) b->resize(static_cast<size_t>(settings.max_rows) * C);
  return s;
}

// Row by row in order, so a chunk of rows gives what one step per row gives, eviction included.
template <class F>
void ContextualMemory<F>::step(F* y, const F* x, int rows, Stream& s) const {
  static_assert(kVisible == Visible::BeforeSelf, "position t reads the pairs of positions before t");
  const int hs = C / H;
  k_featurizer.step(s.k.data(), x, rows, s.keys);
  const int first_value = v_featurizer.step(s.v.data(), x, rows, s.values);  // row r: v_{t-1}
  for (int r = 0; r < rows; ++r) {
    const int64_t t = s.position + r;
    const F* k = s.k.data() + static_cast<int64_t>(r) * C;
    if (r >= first_value) {  // the pair of t - 1 is complete: its key is the previous row's
      const F* key = r == 0 ? s.pending_key.data() : k - C;
      const F* value = s.v.data() + static_cast<int64_t>(r) * C;
      for (int h = 0; h < H; ++h) s.stores[h].add(key + h * hs, value + h * hs, t - 1);
    }
    F* out = s.retrieved.data() + static_cast<int64_t>(r) * C;
    for (int h = 0; h < H; ++h) s.stores[h].query(k + h * hs, out + h * hs, t);
  }
  std::copy_n(s.k.data() + static_cast<int64_t>(rows - 1) * C, C, s.pending_key.data());
  s.position += rows;
  c_proj.apply(y, s.retrieved.data(), rows);
}

template struct ContextualMemory<float>;
template struct ContextualMemory<double>;

}  // namespace mosaic
