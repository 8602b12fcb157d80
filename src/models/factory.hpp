// The model factory: the language model a config names, built from its implementation
// (memory_mosaic.cpp or gpt.cpp). Kept apart from language_model.hpp so that the interface
// does not include its implementations.
#pragma once
#include <functional>
#include <memory>

#include "models/language_model.hpp"

namespace mosaic {

// Builds the model the config names (arch "mosaic" or "gpt") with parameters allocated
// and zero; call init_parameters() or load weights next. Error with a hint on a bad config.
// check_layout, when given, sees the parameter names and shapes before any memory is
// allocated for them (a loader checks its file there).
template <class F>
std::unique_ptr<LanguageModel<F>> make_model(const ModelConfig& config,
                                             const std::function<void(const ParamTable<F>&)>& check_layout = {});

// A copy of a Memory Mosaic's weights under another block_size, for contexts longer than it
// was trained on (no parameter of a Memory Mosaic depends on the length: no positions). Error
// with a hint for a GPT, whose learned positions stop at its block_size.
std::unique_ptr<LanguageModel<float>> with_block_size(const LanguageModel<float>& model, int block_size);

}  // namespace mosaic
