// The stream factory and the shared weight views (stream_util.hpp).
#include "infer/stream.hpp"

#include <omp.h>

#include <cmath>

#include "core/error.hpp"
#include "kernels/matvec.hpp"
#include "infer/stream_util.hpp"
#include "infer/streaming_gpt.hpp"
#include "infer/streaming_mosaic.hpp"
#include "kernels/gemm.hpp"

namespace mosaic {

constexpr double kLayerNormEps = 1e-5;  // as layers/layernorm.cpp

void LinearView::apply(float* y, const float* x, int rows) const {
  if (rows == 1) {
    matvec(y, w, x, b, out, in);
    return;
  }
  gemm<float>(Op::N, Op::T, rows, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
  if (b)
    for (int64_t r = 0; r < rows; ++r)
      for (int o = 0; o < out; ++o) y[r * out + o] += b[o];
}

// Same arithmetic as kernels/layernorm.hpp (double mean and variance, biased variance).
void LayerNormView::apply(float* y, const float* x, int rows) const {
  for (int64_t i = 0; i < rows; ++i) {
    const float* xi = x + i * C;
    double m = 0, v = 0;
    for (int c = 0; c < C; ++c) m += xi[c];
    m /= C;
    for (int c = 0; c < C; ++c) v += (xi[c] - m) * (xi[c] - m);
    v /= C;
    const double r = 1.0 / std::sqrt(v + kLayerNormEps);
    float* yi = y + i * C;
    for (int c = 0; c < C; ++c) yi[c] = static_cast<float>((xi[c] - m) * r) * w[c] + (b ? b[c] : 0.0f);
  }
}

const float* ParamLookup::tensor(const std::string& name, const std::vector<int64_t>& shape) const {
  const ParamEntry* e = table_.find(name);
  MOSAIC_CHECK(e, "the model has no parameter " + name, "streaming needs a Memory Mosaic or GPT built by make_model");
  MOSAIC_CHECK(e->shape == shape,
               "parameter " + name + " has shape " + shape_string(e->shape) + ", expected " + shape_string(shape),
               "the checkpoint's config does not match its tensors");
  return table_.value(*e);
}

LinearView ParamLookup::linear(const std::string& prefix, int out, int in) const {
  LinearView v;
  v.out = out;
  v.in = in;
  v.w = tensor(prefix + "weight", {out, in});
  if (bias_) v.b = tensor(prefix + "bias", {out});
  return v;
}

LayerNormView ParamLookup::layernorm(const std::string& prefix, int C) const {
  LayerNormView v;
  v.C = C;
  v.w = tensor(prefix + "weight", {C});
  if (bias_) v.b = tensor(prefix + "bias", {C});
  return v;
}

int stream_threads(int requested) { return requested > 0 ? requested : omp_get_max_threads(); }

std::unique_ptr<TokenStream> make_stream(const LanguageModel<float>& model, const StreamOptions& options) {
  if (model.config().arch == "gpt") return std::make_unique<StreamingGpt>(model, options);
  return std::make_unique<StreamingMosaic>(model, options);
}

}  // namespace mosaic
