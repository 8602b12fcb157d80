// The model factory.
#include "models/factory.hpp"

#include "models/gpt.hpp"
#include "models/memory_mosaic.hpp"

namespace mosaic {

template <class F>
std::unique_ptr<LanguageModel<F>> make_model(const ModelConfig& config) {
  config.validate();
  if (config.arch == "gpt") return make_gpt<F>(config);
  return make_memory_mosaic<F>(config);
}

template std::unique_ptr<LanguageModel<float>> make_model<float>(const ModelConfig&);
template std::unique_ptr<LanguageModel<double>> make_model<double>(const ModelConfig&);

}  // namespace mosaic
