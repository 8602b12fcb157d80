// MLP: Linear, GELU (kernels/activations.hpp), Linear.
#include "layers/mlp.hpp"

#include "kernels/activations.hpp"

namespace mosaic {

template <class F>
void Mlp<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  c_fc.register_params(table, prefix + "c_fc.");
  c_proj.register_params(table, prefix + "c_proj.");
}

template <class F>
const F* Mlp<F>::forward(const F* x, int batch, int time) {
  const int64_t rows = static_cast<int64_t>(batch) * time;
  const F* hidden = c_fc.forward(x, rows);
  act.resize(rows * c_fc.out);
  gelu_forward(act.data(), hidden, rows * c_fc.out);
  return c_proj.forward(act.data(), rows);
}

template <class F>
void Mlp<F>::backward(const F* dy, F* dx) {
  const int64_t n = c_fc.N * c_fc.out;
  dact.resize(n);
  dhidden.resize(n);
  c_proj.backward(dy, dact.data());
  gelu_backward(dhidden.data(), c_fc.y.data(), dact.data(), n);
  c_fc.backward(dhidden.data(), dx);
}

template struct Mlp<float>;
template struct Mlp<double>;

}  // namespace mosaic
