// Model weights <-> safetensors: the config lives in __metadata__ ("arch", "config" JSON, as
// the reference fixtures store it), tensors under their state_dict names (optionally prefixed,
// e.g. "param." in the parity fixtures). Not the train state (optimizer, loader, RNG).
#pragma once
#include <string>

#include "core/param_table.hpp"
#include "io/safetensors.hpp"
#include "models/config.hpp"

namespace mosaic {

// Reads arch + config from the metadata; Error with a hint when absent or malformed.
ModelConfig read_model_config(const safetensors::Reader& file);

// Copies every parameter of the table from tensors named prefix + state_dict name. Names or
// shapes that do not match, and parameter tensors the model does not have, are Errors.
void load_parameters(const safetensors::Reader& file, ParamTable<float>& table, const std::string& prefix = "");

}  // namespace mosaic
