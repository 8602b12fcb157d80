// Regression tests for what the parser fuzzers (fuzz/) found, one per finding; the inputs
// also sit in fuzz/corpus/<fuzzer>/ so the fuzzers replay them. Each must give a mosaic::Error
// (or, for the schedule, a sane number), never a crash, an overflow or an allocation sized by
// the file's claims. Not a fuzzer: fixed inputs only.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/model_io.hpp"
#include "io/safetensors.hpp"
#include "temp_dir.hpp"
#include "train/train_config.hpp"

namespace mosaic {
namespace {

// Deep enough to overflow an 8 MB stack in any recursive walk of the JSON value, in a release
// build (about 100,000 levels already do) as well as under ASan (10,000).
constexpr int kDeep = 1'000'000;

std::string nested_array(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::vector<std::byte> safetensors_bytes(const std::string& header) {
  std::vector<std::byte> out(8 + header.size());
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

std::string with_model_config(const std::string& arch, const std::string& config_json) {
  nlohmann::json meta = {{"arch", arch}, {"config", config_json}};
  return nlohmann::json{{"__metadata__", meta}}.dump();
}

void write_file(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// fuzz/corpus/fuzz_config/warmup_iters_int64_max.json: validate() accepted it, then
// learning_rate_at computed warmup_iters + 1 (signed overflow, train_config.cpp).
TEST(FuzzRegressions, ScheduleWithHugeWarmupIsRefusedOrSane) {
  TrainConfig c;
  bool accepted = true;
  try {
    c.update_from_json(nlohmann::json::parse(R"({"warmup_iters": 9223372036854775807})"), "test");
    c.validate();
  } catch (const Error&) {
    accepted = false;
  }
  if (!accepted) return;
  for (int64_t step : {int64_t{0}, int64_t{1000}, std::numeric_limits<int64_t>::max() - 1}) {
    const double lr = learning_rate_at(c, step);
    EXPECT_TRUE(std::isfinite(lr) && lr >= 0 && lr <= c.learning_rate) << "step " << step << ": " << lr;
  }
}

// fuzz/corpus/fuzz_config/{max_iters_2pow63,seed_2pow64}_as_float.json: json_value's range
// check compared with double(INT64_MAX) = 2^63 (rounded up), so 2^63 and 2^64 written as
// floats passed it and the cast to int64_t / uint64_t is undefined (json_value.hpp).
TEST(FuzzRegressions, IntegersWrittenAsFloatsPastTheLimitAreOutOfRange) {
  for (const char* text : {R"({"max_iters": 9.223372036854775808e18})", R"({"warmup_iters": 9223372036854775808.0})",
                           R"({"seed": 1.8446744073709552e19})"}) {
    TrainConfig c;
    EXPECT_THROW(c.update_from_json(nlohmann::json::parse(text), "test"), Error) << text;
  }
  TrainConfig ok;  // the largest doubles below the limits are whole numbers in range
  EXPECT_NO_THROW(ok.update_from_json(nlohmann::json::parse(R"({"max_iters": 9.2233720368547748e18})"), "test"));
  EXPECT_EQ(ok.max_iters, 9223372036854774784);
}

// fuzz/corpus/fuzz_config/deep_nesting_error_message.json: the error message called the
// recursive nlohmann dump() on the value (json_value.hpp), and a model key was first copied
// recursively into model_part (train_config.cpp): a stack overflow, not an Error.
TEST(FuzzRegressions, DeeplyNestedConfigValuesAreErrors) {
  testing::TempDir dir("fuzz_regression");
  for (const char* key : {"batch_size", "n_layer", "arch"}) {
    const std::string path = dir.file(std::string(key) + ".json");
    std::ofstream(path) << "{\"" << key << "\": " << nested_array(kDeep) << "}";
    EXPECT_THROW(
        {
          TrainConfig c;
          c.update_from_json(read_json_file(path), path);
        },
        Error)
        << key;
  }
}

// fuzz/corpus/fuzz_safetensors/deep_nesting_shape.safetensors: the "not a list of
// non-negative integers" message dumped the shape recursively (safetensors.cpp, parse_header).
TEST(FuzzRegressions, DeeplyNestedSafetensorsShapeIsAnError) {
  const std::string header =
      R"({"a":{"dtype":"U8","shape":)" + nested_array(kDeep) + R"(,"data_offsets":[0,0]}})";
  EXPECT_THROW(safetensors::Reader::from_bytes(safetensors_bytes(header), "deep"), Error);
}

// fuzz/corpus/fuzz_model_file/deep_nesting_metadata_config.safetensors: the same dump()
// through read_model_config -> ModelConfig::update_from_json -> json_value.
TEST(FuzzRegressions, DeeplyNestedModelConfigMetadataIsAnError) {
  const std::string header = with_model_config("mosaic", "{\"n_layer\": " + nested_array(kDeep) + "}");
  const auto file = safetensors::Reader::from_bytes(safetensors_bytes(header), "deep");
  EXPECT_THROW(read_model_config(file), Error);
}

// fuzz/corpus/fuzz_model_file/gpt_n_embd_*int_overflow.safetensors: validate() accepted any
// positive n_embd, then the layers computed 4 * n_embd (mlp.hpp) and 3 * n_embd
// (causal_self_attention.hpp) in int. Such a model can never be allocated anyway.
TEST(FuzzRegressions, ModelSizesPastIntAreErrors) {
  testing::TempDir dir("fuzz_regression");
  for (int n_embd : {536870912, 715827883}) {
    const std::string config = nlohmann::json{{"block_size", 4}, {"vocab_size", 16}, {"n_layer", 1}, {"n_head", 1},
                                              {"n_embd", n_embd}, {"bias", false}, {"dropout", 0.0}}
                                   .dump();
    const std::string path = dir.file("gpt.safetensors");
    write_file(path, safetensors_bytes(with_model_config("gpt", config)));
    EXPECT_THROW(load_model(path), Error) << "n_embd " << n_embd;
  }
}

// fuzz/corpus/fuzz_model_file/{huge_vocab_allocates_64gib,pmem_size_wraps_size_t}.safetensors:
// load_model built (allocated and zeroed) the model the metadata describes before checking
// that the file holds its tensors, so a 200-byte file asked for any amount of memory
// (std::bad_alloc, or an OOM kill where the request fits); and TensorLayout::add multiplied
// the dims in size_t unchecked (pmem_count * n_head * pmem_size * head_size wrapped). The
// sizes here can never be allocated, so a regression fails instead of eating the machine.
TEST(FuzzRegressions, ConfigsBiggerThanTheFileAreErrorsNotAllocations) {
  testing::TempDir dir("fuzz_regression");
  const nlohmann::json base = {{"block_size", 4}, {"n_layer", 1}, {"bias", false}, {"dropout", 0.0}};
  nlohmann::json huge = base, wrapping = base;
  // Within every size bound, yet 2^38 floats (1 TiB) of weights: only the file check stops it.
  huge.update({{"vocab_size", 1 << 24}, {"n_embd", 1 << 14}, {"n_head", 1}, {"pmem_size", 4}, {"pmem_count", 1}});
  wrapping.update({{"vocab_size", 16}, {"n_embd", 8}, {"n_head", 2}, {"pmem_size", 2147483647}, {"pmem_count", 2147483647}});
  for (const auto& config : {huge, wrapping}) {
    const std::string path = dir.file("mosaic.safetensors");
    write_file(path, safetensors_bytes(with_model_config("mosaic", config.dump())));
    EXPECT_THROW(load_model(path), Error) << config.dump();
  }
}

// fuzz/corpus/fuzz_model_file/hf_prefix_3x_int64_overflow.safetensors: zero-size tensors may
// have huge dims; hf_gpt2_prefix computed 3 * wte[1] in int64 (model_io.cpp). Silent in a
// release build; `make test-sanitize` catches it.
TEST(FuzzRegressions, HuggingFaceLayoutCheckDoesNotOverflow) {
  testing::TempDir dir("fuzz_regression");
  const std::string header =
      R"({"wte.weight":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]},)"
      R"("h.0.attn.c_attn.weight":{"dtype":"F32","shape":[4611686018427387904,0],"data_offsets":[0,0]}})";
  const std::string path = dir.file("hf.safetensors");
  write_file(path, safetensors_bytes(header));
  EXPECT_THROW(load_model(path), Error);
}

}  // namespace
}  // namespace mosaic
