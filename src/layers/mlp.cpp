// MLP: Linear, GELU (kernels/gelu.hpp), Linear.
#include "layers/mlp.hpp"

#include "kernels/gelu.hpp"

namespace mosaic {

template <class F>
void Mlp<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  c_fc.register_params(table, prefix + "c_fc.");
  c_proj.register_params(table, prefix + "c_proj.");
}

template <class F>
void Mlp<F>::plan(Activations<F>& acts, const std::string& prefix, int batch, int time) {
  const int64_t rows = static_cast<int64_t>(batch) * time;
  c_fc.plan(acts, prefix + "c_fc.", rows);
  c_proj.plan(acts, prefix + "c_proj.", rows);
  for (auto [name, slot] : {std::pair{"act", &act}, {"dact", &dact}, {"dhidden", &dhidden}})
    acts.add(prefix + name, {rows, c_fc.out}, slot);
}

template <class F>
const F* Mlp<F>::forward(const F* x, int batch, int time) {
  N = static_cast<int64_t>(batch) * time;
  hidden = c_fc.forward(x, N);
  gelu_forward(act.data(), hidden, N * c_fc.out);
  return c_proj.forward(act.data(), N);
}

template <class F>
void Mlp<F>::backward(const F* dy, F* dx) {
  const int64_t n = N * c_fc.out;
  dact.zero();
  dhidden.zero();
  c_proj.backward(dy, dact.data());
  gelu_backward(dhidden.data(), hidden, dact.data(), n);
  c_fc.backward(dhidden.data(), dx);
}

template <class F>
void Mlp<F>::step(F* y, const F* x, StreamSlices<Stream> slices) const {
  const int rows = total_rows(slices);
  F* hidden = slices.front().stream->hidden.data();  // the first stream's scratch serves every slice
  c_fc.apply_step(hidden, x, rows, slices.size());
  gelu_forward(hidden, hidden, static_cast<int64_t>(rows) * c_fc.out);
  c_proj.apply_step(y, hidden, rows, slices.size());
}

template struct Mlp<float>;
template struct Mlp<double>;

}  // namespace mosaic
