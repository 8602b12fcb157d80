// Parity with the official PyTorch code (../shared/reference fixtures): forward, every
// gradient, 10 AdamW steps, greedy tokens; parameter counts; and a doctored fixture must fail.
#include <gtest/gtest.h>

#include <filesystem>

#include "experiments/parity/reference_check.hpp"
#include "io/model_io.hpp"
#include "io/safetensors.hpp"
#include "models/language_model.hpp"

namespace mosaic {
namespace {

const std::string kReferenceDir = std::string(MOSAIC_SHARED_DIR) + "/reference";

std::vector<std::string> fixtures() {
  std::vector<std::string> out;
  if (!std::filesystem::is_directory(kReferenceDir)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(kReferenceDir))
    if (entry.path().extension() == ".safetensors") out.push_back(entry.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Parity, EveryReferenceFixturePasses) {
  const auto files = fixtures();
  if (files.empty()) GTEST_SKIP() << "no fixtures in " << kReferenceDir << " (they ship with ../shared only)";
  for (const auto& path : files) {
    auto report = check_reference_fixture(path);
    for (const auto& line : report.lines)
      EXPECT_TRUE(line.ok) << path << ": " << line.what << " max_rel " << line.max_rel << " > " << line.tolerance;
    EXPECT_TRUE(report.pass()) << path;
    EXPECT_GT(report.lines.size(), 5u);
  }
}

TEST(Parity, ParameterCountMatchesTheReference) {
  const auto files = fixtures();
  if (files.empty()) GTEST_SKIP() << "no fixtures in " << kReferenceDir;
  for (const auto& path : files) {
    auto file = safetensors::Reader::open(path);
    size_t reference_count = 0;  // PyTorch's named_parameters(): the tied head counted once
    for (const auto& name : file.names())
      if (name.rfind("param.", 0) == 0) reference_count += file.info(name).numel();
    auto model = make_model<float>(read_model_config(file));
    EXPECT_EQ(model->params().count(), reference_count) << path;
  }
}

TEST(Parity, Gpt2SmallHasTheReferenceParameterCount) {
  // nanoGPT's GPT-2 124M with the padded vocabulary: 124,475,904 parameters in total.
  ModelConfig c;
  c.arch = "gpt";
  c.vocab_size = 50304;
  auto model = make_model<float>(c);
  EXPECT_EQ(model->params().count(), 124475904u);
}

// The check must be able to fail: one gradient entry off by 1% of its tensor's scale.
TEST(Parity, DoctoredFixtureFails) {
  const std::string source = kReferenceDir + "/mosaic_0.safetensors";
  if (!std::filesystem::exists(source)) GTEST_SKIP() << "fixture missing";
  auto file = safetensors::Reader::open(source);
  safetensors::Writer copy;
  for (const auto& [k, v] : file.metadata()) copy.set_metadata(k, v);
  const std::string victim = "grad.mosaic.h.1.attn.v_featurizer.W_v.weight";
  for (const auto& name : file.names()) {
    const auto& info = file.info(name);
    if (name == victim) {
      auto data = file.read_f32(name);
      float scale = 0;
      for (float x : data) scale = std::max(scale, std::abs(x));
      data[3] += 0.01f * scale;
      copy.add_f32(name, info.shape, data.data());
    } else {
      auto raw = file.raw(name);
      copy.add(name, info.dtype, info.shape, raw);
    }
  }
  const std::string path = ::testing::TempDir() + "/doctored.safetensors";
  copy.write(path);
  auto report = check_reference_fixture(path);
  EXPECT_FALSE(report.pass());
  size_t failed = 0;
  for (const auto& line : report.lines)
    if (!line.ok) {
      ++failed;
      EXPECT_EQ(line.what, "grad mosaic.h.1.attn.v_featurizer.W_v.weight");
    }
  EXPECT_EQ(failed, 1u);
}

}  // namespace
}  // namespace mosaic
