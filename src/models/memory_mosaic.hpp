// The Memory Mosaic language model (see memory_mosaic.cpp for the architecture).
#pragma once
#include <memory>

#include "models/language_model.hpp"

namespace mosaic {

template <class F>
std::unique_ptr<LanguageModel<F>> make_memory_mosaic(const ModelConfig& config);

}  // namespace mosaic
