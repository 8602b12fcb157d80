// The model factory.
#include "models/factory.hpp"

#include <cstring>

#include "core/error.hpp"
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

std::unique_ptr<LanguageModel<float>> with_block_size(const LanguageModel<float>& model, int block_size) {
  ModelConfig c = model.config();
  MOSAIC_CHECK(!c.learned_positions(), "a GPT with learned positions cannot run past its block_size " + std::to_string(c.block_size),
               "its position table ends there: give a context of at most " + std::to_string(c.block_size) +
                   " (GPTs with pos_encoding rope or alibi can)");
  c.block_size = block_size;
  auto out = make_model<float>(c);
  for (const auto& e : model.params().entries())
    std::memcpy(out->params().value(*out->params().find(e.name)), model.params().value(e), e.numel * sizeof(float));
  return out;
}

template std::unique_ptr<LanguageModel<float>> make_model<float>(const ModelConfig&,
                                                                 const std::function<void(const ParamTable<float>&)>&);
template std::unique_ptr<LanguageModel<double>> make_model<double>(const ModelConfig&,
                                                                   const std::function<void(const ParamTable<double>&)>&);

}  // namespace mosaic
