// SwiGLU: two projections, the gate (kernels/swiglu.hpp), the output projection.
#include "layers/swiglu.hpp"

#include "kernels/swiglu.hpp"

namespace mosaic {

template <class F>
void SwiGlu<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  w1.register_params(table, prefix + "w1.");
  w2.register_params(table, prefix + "w2.");
  w3.register_params(table, prefix + "w3.");
}

template <class F>
void SwiGlu<F>::plan(Activations<F>& acts, const std::string& prefix, int batch, int time) {
  const int64_t rows = static_cast<int64_t>(batch) * time;
  for (auto [name, layer] : {std::pair{"w1.", &w1}, {"w2.", &w2}, {"w3.", &w3}}) layer->plan(acts, prefix + name, rows);
  for (auto [name, slot] : {std::pair{"hidden", &hidden}, {"dhidden", &dhidden}, {"da", &da}, {"db", &db}})
    acts.add(prefix + name, {rows, w1.out}, slot);
}

template <class F>
const F* SwiGlu<F>::forward(const F* x, int batch, int time) {
  N = static_cast<int64_t>(batch) * time;
  a = w1.forward(x, N);
  b = w3.forward(x, N);
  swiglu_forward(hidden.data(), a, b, N * w1.out);
  return w2.forward(hidden.data(), N);
}

template <class F>
void SwiGlu<F>::backward(const F* dy, F* dx) {
  dhidden.zero();
  w2.backward(dy, dhidden.data());
  da.zero();
  db.zero();
  swiglu_backward(da.data(), db.data(), a, b, dhidden.data(), N * w1.out);
  w1.backward(da.data(), dx);
  w3.backward(db.data(), dx);
}

template <class F>
typename SwiGlu<F>::Stream SwiGlu<F>::start_stream(int max_rows) const {
  const size_t n = static_cast<size_t>(max_rows) * w1.out;
  return {std::vector<F>(n), std::vector<F>(n)};
}

template <class F>
void SwiGlu<F>::step(F* y, const F* x, StreamSlices<Stream> slices) const {
  const int rows = total_rows(slices);
  Stream& lead = *slices.front().stream;  // its scratch serves every slice
  w1.apply_step(lead.a.data(), x, rows, slices.size());
  w3.apply_step(lead.b.data(), x, rows, slices.size());
  swiglu_forward(lead.a.data(), lead.a.data(), lead.b.data(), static_cast<int64_t>(rows) * w1.out);
  w2.apply_step(y, lead.a.data(), rows, slices.size());
}

template struct SwiGlu<float>;
template struct SwiGlu<double>;

}  // namespace mosaic
