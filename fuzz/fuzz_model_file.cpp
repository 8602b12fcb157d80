// Fuzzes load_model on arbitrary files: mosaic checkpoints (config in __metadata__), plain
// PyTorch state_dicts of MemoryMosaic / GPT (config inferred from shapes) and Hugging Face
// GPT-2 files (Conv1D layout, n_head from a config.json beside the file). A loaded model must
// have a valid config and finite weights. Not a fuzzer of save_model or of running a model.
//
// Input layout: <model file> [ "@@config.json@@" <config.json written beside it> ].
#include <cmath>

#include "fuzz_common.hpp"
#include "io/model_io.hpp"

using namespace mosaic;

namespace {

constexpr std::string_view kConfigSeparator = "@@config.json@@";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir("model_file");
  static const std::string path = dir.file("model.safetensors"), config_path = dir.file("config.json");
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t sep = in.find(kConfigSeparator);
  fuzz::write_file(path, in.substr(0, sep));
  if (sep != std::string_view::npos) fuzz::write_file(config_path, in.substr(sep + kConfigSeparator.size()));
  else fuzz::remove_file(config_path);

  std::unique_ptr<LanguageModel<float>> model;
  if (!fuzz::ok_or_error([&] { model = load_model(path); })) return 0;
  FUZZ_ASSERT(model != nullptr, "load_model returned null");
  FUZZ_ASSERT(fuzz::ok_or_error([&] { model->config().validate(); }), "a loaded model has an invalid config");
  const auto& params = model->params();
  for (const auto& e : params.entries()) {
    const float* v = params.value(e);
    for (size_t i = 0; i < e.numel; ++i) FUZZ_ASSERT(std::isfinite(v[i]), "non-finite weight in " + e.name);
  }
  return 0;
}
