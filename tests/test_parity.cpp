// Parity with the official PyTorch code (../shared/reference fixtures): forward, every
// gradient, 10 AdamW steps, greedy tokens; parameter counts; and a doctored fixture must fail.
#include <gtest/gtest.h>

#include <filesystem>

#include "experiments/parity/reference_check.hpp"
#include "io/model_io.hpp"
#include "io/safetensors.hpp"
#include "models/factory.hpp"
#include "models/language_model.hpp"
#include "temp_dir.hpp"

namespace mosaic {
namespace {

const std::string kReferenceDir = std::string(MOSAIC_SHARED_DIR) + "/reference";
// The RegBench model's fixture (StackAssoMem, made by tools/icll_fixture.py) ships with the code.
const std::string kOwnFixtureDir = std::string(MOSAIC_SOURCE_DIR) + "/tests/fixtures";

std::vector<std::string> fixtures() {
  std::vector<std::string> out;
  for (const auto& dir : {kReferenceDir, kOwnFixtureDir}) {
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      if (entry.path().extension() == ".safetensors") out.push_back(entry.path().string());
  }
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

// A copy of mosaic_0's fixture, written into `dir`, with one entry of one reference gradient
// moved by `fraction` of its tensor's scale; returns its path, or "" when the fixtures are missing.
const std::string kVictim = "mosaic.h.1.attn.v_featurizer.W_v.weight";

std::string doctored_fixture(const testing::TempDir& dir, float fraction, const std::string& name) {
  const std::string source = kReferenceDir + "/mosaic_0.safetensors";
  if (!std::filesystem::exists(source)) return "";
  auto file = safetensors::Reader::open(source);
  safetensors::Writer copy;
  for (const auto& [k, v] : file.metadata()) copy.set_metadata(k, v);
  for (const auto& tensor : file.names()) {
    const auto& info = file.info(tensor);
    if (tensor == "grad." + kVictim) {
      auto data = file.read_f32(tensor);
      float scale = 0;
      for (float x : data) scale = std::max(scale, std::abs(x));
      data[3] += fraction * scale;
      copy.add_f32(tensor, info.shape, data.data());
    } else {
      copy.add(tensor, info.dtype, info.shape, file.raw(tensor));
    }
  }
  const std::string path = dir.file(name);
  copy.write(path);
  return path;
}

// The check must be able to fail: one gradient entry off by 1% of its tensor's scale, which our
// float64 gradient does not excuse either.
TEST(Parity, DoctoredFixtureFails) {
  const testing::TempDir dir("parity");
  const std::string path = doctored_fixture(dir, 0.01f, "doctored.safetensors");
  if (path.empty()) GTEST_SKIP() << "fixture missing";
  auto report = check_reference_fixture(path);
  EXPECT_FALSE(report.pass());
  size_t failed = 0;
  for (const auto& line : report.lines)
    if (!line.ok) {
      ++failed;
      EXPECT_EQ(line.what, "grad " + kVictim);
      EXPECT_GT(line.reference_vs_f64, 2 * kGradTolerance);
    }
  EXPECT_EQ(failed, 1u);
}

// A reference gradient 1.5 tolerances off (as PyTorch's own float32 rounding can be at full
// size) passes on our float64 gradient, which ours matches; 3 tolerances off it fails.
TEST(Parity, Float64GradientJudgesAReferenceOffByItsRounding) {
  const testing::TempDir dir("parity");
  for (const float tolerances : {1.5f, 3.0f}) {
    const std::string path = doctored_fixture(dir, tolerances * static_cast<float>(kGradTolerance), "rounded.safetensors");
    if (path.empty()) GTEST_SKIP() << "fixture missing";
    auto report = check_reference_fixture(path);
    EXPECT_EQ(report.pass(), tolerances < 2) << tolerances;
    bool judged = false;
    for (const auto& line : report.lines) {
      if (line.what != "grad " + kVictim) {
        EXPECT_LT(line.ours_vs_f64, 0) << line.what << ": only the doctored gradient needs float64";
        continue;
      }
      judged = true;
      EXPECT_GT(line.max_rel, kGradTolerance);
      EXPECT_LT(line.ours_vs_f64, 1e-5);
      EXPECT_NEAR(line.reference_vs_f64, tolerances * kGradTolerance, 0.2 * kGradTolerance);
    }
    EXPECT_TRUE(judged);
  }
}

}  // namespace
}  // namespace mosaic
