// The model factory: the language model a config names, built from its implementation
// (memory_mosaic.cpp or gpt.cpp). Kept apart from language_model.hpp so that the interface
// does not include its implementations.
#pragma once
#include <memory>

#include "models/language_model.hpp"

namespace mosaic {

// Builds the model the config names (arch "mosaic" or "gpt") with parameters allocated
// and zero; call init_parameters() or load weights next. Error with a hint on a bad config.
template <class F>
std::unique_ptr<LanguageModel<F>> make_model(const ModelConfig& config);

}  // namespace mosaic
