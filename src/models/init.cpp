// Rules, by name suffix (as _init_weights and the module constructors of the reference):
//   *c_proj.weight          N(0, 0.02 / sqrt(2 L))      residual projections, GPT-2 paper
//   other 2-D *.weight      N(0, 0.02)                  Linear and Embedding
//   1-D *.weight            1                           LayerNorm
//   *.bias                  0
//   P_k, P_v                N(0, 1 / hs)                persistent slots (std 1/sqrt(hs))
//   key_scale               1 / 10                      exp(10 * 0.1) = e
//   leaky_key_beta          linspace(0.5, 5, H) / 10    one time scale per head
//   coef                    U[0, 1)
//   val_scale, out_scale    -0.5 / 10
// (10 is kExpScaling: each of these enters as exp(+-10 p), so p = x / 10 starts it at exp(+-x).)
// init "fanin" (StackAssoMem, the RegBench model) changes the matrices only:
//   *c_proj.weight N(0, 1 / sqrt(fan_in L)); other 2-D N(0, 1 / sqrt(fan_in)), the tied embedding
//   included (StackAssoMem draws it N(0, 1) as an embedding, then again as the head's Linear)
#include "models/init.hpp"

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "layers/exp_scaling.hpp"

namespace mosaic {

template <class F>
void init_parameters(ParamTable<F>& table, const ModelConfig& config, Rng& rng) {
  const int H = config.n_head;
  for (const auto& e : table.entries()) {
    F* p = table.value(e);
    auto fill_normal = [&](double std) {
      for (size_t i = 0; i < e.numel; ++i) p[i] = static_cast<F>(rng.normal() * std);
    };
    auto fill = [&](double v) {
      for (size_t i = 0; i < e.numel; ++i) p[i] = static_cast<F>(v);
    };
    const bool fanin = config.init == "fanin";
    const bool matrix = e.name.ends_with(".weight") && e.shape.size() == 2;
    const double fan_in = matrix ? static_cast<double>(e.shape[1]) : 1.0;
    if (e.name.ends_with("c_proj.weight"))
      fill_normal(fanin ? 1.0 / std::sqrt(fan_in * config.n_layer) : 0.02 / std::sqrt(2.0 * config.n_layer));
    else if (matrix) fill_normal(fanin ? 1.0 / std::sqrt(fan_in) : 0.02);
    else if (e.name.ends_with(".weight")) fill(1.0);
    else if (e.name.ends_with(".bias")) fill(0.0);
    else if (e.name.ends_with("P_k") || e.name.ends_with("P_v")) fill_normal(1.0 / std::sqrt(config.head_size()));
    else if (e.name.ends_with("key_scale")) fill(1.0 / kExpScaling);
    else if (e.name.ends_with("leaky_key_beta"))
      for (int h = 0; h < H; ++h) p[h] = static_cast<F>((H == 1 ? 0.5 : 0.5 + 4.5 * h / (H - 1)) / kExpScaling);
    else if (e.name.ends_with("coef"))
      for (int h = 0; h < H; ++h) p[h] = static_cast<F>(rng.uniform());
    else if (e.name.ends_with("val_scale") || e.name.ends_with("out_scale")) fill(-0.5 / kExpScaling);
    else throw Error("no initialisation rule for parameter " + e.name, "add one to src/models/init.cpp");
  }
}

template void init_parameters<float>(ParamTable<float>&, const ModelConfig&, Rng&);
template void init_parameters<double>(ParamTable<double>&, const ModelConfig&, Rng&);

}  // namespace mosaic
