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
// init "v2" (Memory Mosaics v2, table 6) changes the matrices only: N(0, s) clipped at +-3 s with
//   s = 1 / sqrt(2 fan_in (l + 1)) in block l (W_o: fan_in = n_embd, as the paper writes d), and
//   1 / sqrt(2 n_embd) for the tied embedding.
// Memory Mosaics v2's own scalars, whatever the init (table 6):
//   bandwidth.beta0, beta1  1.5                         exp(1.5) each
//   bandwidth.alpha         1 / 3
//   val_scale of a level    0                           exp(min(|0|, 15)) = 1
#include "models/init.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "layers/exp_scaling.hpp"

namespace mosaic {

namespace {

// The block index l of a parameter named "...h.<l>....", -1 outside the blocks.
int block_of(const std::string& name) {
  const size_t at = name.find(".h.");
  return at == std::string::npos ? -1 : std::stoi(name.substr(at + 3));
}

// Table 6's sigma of a matrix, and the clip at 3 sigma.
double v2_sigma(const std::string& name, double fan_in, const ModelConfig& c) {
  const int l = block_of(name);
  if (l < 0) return 1.0 / std::sqrt(2.0 * c.n_embd);
  if (name.ends_with("attn.c_proj.weight")) fan_in = c.n_embd;
  return 1.0 / std::sqrt(2.0 * fan_in * (l + 1));
}
constexpr double kClipSigmas = 3;

}  // namespace

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
    const bool fanin = config.init == "fanin", v2 = config.init == "v2";
    const bool matrix = e.name.ends_with(".weight") && e.shape.size() == 2;
    const double fan_in = matrix ? static_cast<double>(e.shape[1]) : 1.0;
    if (matrix && v2) {
      const double sigma = v2_sigma(e.name, fan_in, config);
      for (size_t i = 0; i < e.numel; ++i)
        p[i] = static_cast<F>(std::clamp(rng.normal() * sigma, -kClipSigmas * sigma, kClipSigmas * sigma));
    } else if (e.name.ends_with("c_proj.weight"))
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
    else if (e.name.ends_with("bandwidth.beta0") || e.name.ends_with("bandwidth.beta1")) fill(1.5);
    else if (e.name.ends_with("bandwidth.alpha")) fill(1.0 / 3);
    else if (e.name.ends_with("_term.v_featurizer.val_scale")) fill(0.0);
    else if (e.name.ends_with("val_scale") || e.name.ends_with("out_scale")) fill(-0.5 / kExpScaling);
    else throw Error("no initialisation rule for parameter " + e.name, "add one to src/models/init.cpp");
  }
}

template void init_parameters<float>(ParamTable<float>&, const ModelConfig&, Rng&);
template void init_parameters<double>(ParamTable<double>&, const ModelConfig&, Rng&);

}  // namespace mosaic
