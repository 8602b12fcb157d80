// Initialisation of a model's parameters by their reference names (GPT-2 scheme plus the
// Memory Mosaic's scalars), from one seeded Rng. Not bit-identical to PyTorch's draws.
#pragma once
#include "core/param_table.hpp"
#include "core/rng.hpp"
#include "models/config.hpp"

namespace mosaic {

template <class F>
void init_parameters(ParamTable<F>& table, const ModelConfig& config, Rng& rng);

}  // namespace mosaic
