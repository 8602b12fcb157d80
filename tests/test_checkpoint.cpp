// Model files: our own round trip, and a PyTorch-style state_dict (no metadata, tied head kept
// only as lm_head.weight, reference buffers present) loads with its config read off the shapes.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/safetensors.hpp"
#include "models/factory.hpp"
#include "temp_dir.hpp"
#include "tiny_model.hpp"
#include "train/checkpoint.hpp"

namespace mosaic {
namespace {

ModelConfig small_mosaic() {
  ModelConfig c = testing::tiny_config("mosaic", {.vocab_size = 40, .block_size = 24, .pmem_size = 6});
  c.pmem_count = 2;
  c.bias = false;
  return c;
}

std::vector<float> logits_of(LanguageModel<float>& m) {
  std::vector<int32_t> idx = {1, 5, 9, 3, 3, 7, 0, 39};
  m.forward(idx.data(), nullptr, 1, static_cast<int>(idx.size()));
  return {m.logits(), m.logits() + idx.size() * m.config().vocab_size};
}

TEST(Checkpoint, SaveLoadRoundTripsWeightsAndConfig) {
  for (const std::string arch : {"mosaic", "gpt"}) {
    ModelConfig c = small_mosaic();
    c.arch = arch;
    auto model = testing::tiny_model(c);
    const testing::TempDir dir("roundtrip");
    const std::string path = dir.file("model.safetensors");
    save_model(path, *model);
    auto loaded = load_model(path);
    EXPECT_EQ(loaded->config().to_json(), c.to_json());
    EXPECT_EQ(logits_of(*loaded), logits_of(*model)) << arch;
  }
}

TEST(Checkpoint, PyTorchStyleStateDictLoadsWithInferredConfig) {
  const ModelConfig c = small_mosaic();
  auto model = testing::tiny_model(c, 4);
  const testing::TempDir dir("torch_style");
  const std::string ours = dir.file("ours.safetensors");
  save_model(ours, *model);
  // What safetensors.torch.save_model(model) writes: no metadata, one of the tied pair.
  auto file = safetensors::Reader::open(ours);
  safetensors::Writer torch_style;
  for (const auto& name : file.names()) {
    if (name == "mosaic.wte.weight") continue;
    const auto& info = file.info(name);
    torch_style.add(name, info.dtype, info.shape, file.raw(name));
  }
  const std::string path = dir.file("torch_style.safetensors");
  torch_style.write(path);
  auto loaded = load_model(path);
  EXPECT_EQ(loaded->config().to_json(), c.to_json());
  EXPECT_EQ(logits_of(*loaded), logits_of(*model));
}

TEST(Checkpoint, ResolvesRunFoldersAndRejectsMissingOnes) {
  EXPECT_THROW(resolve_model_path("/nonexistent/run"), Error);
  const testing::TempDir empty("empty_run");
  EXPECT_THROW(resolve_model_path(empty.path.string()), Error);
}

}  // namespace
}  // namespace mosaic
