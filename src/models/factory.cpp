// The model factory.
#include "models/factory.hpp"

#include "models/gpt.hpp"
#include "models/memory_mosaic.hpp"

namespace mosaic {

template <class F>
std::unique_ptr<LanguageModel<F>> make_model(const ModelConfig& config,
                                             const std::function<void(const ParamTable<F>&)>& check_layout) {
  config.validate();
  auto model = config.arch == "gpt" ? make_gpt<F>(config) : make_memory_mosaic<F>(config);
  if (check_layout) check_layout(model->params());
  model->params().allocate();
  return model;
}

template std::unique_ptr<LanguageModel<float>> make_model<float>(const ModelConfig&,
                                                                 const std::function<void(const ParamTable<float>&)>&);
template std::unique_ptr<LanguageModel<double>> make_model<double>(const ModelConfig&,
                                                                   const std::function<void(const ParamTable<double>&)>&);

}  // namespace mosaic
