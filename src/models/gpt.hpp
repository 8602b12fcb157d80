// The GPT-2 baseline (nanoGPT's GPT, as in the reference's gpt_model.py).
#pragma once
#include <memory>

#include "models/language_model.hpp"

namespace mosaic {

template <class F>
std::unique_ptr<LanguageModel<F>> make_gpt(const ModelConfig& config);

}  // namespace mosaic
