// ModelConfig: reference field names, unknown keys and impossible values are errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "models/config.hpp"

namespace mosaic {
namespace {

TEST(Config, ReadsReferenceFieldsAndRoundTrips) {
  ModelConfig c;
  c.update_from_json(nlohmann::json::parse(R"({"n_layer": 3, "n_head": 4, "n_embd": 64, "pmem_size": 32,
                                               "bias": false, "block_size": 128, "vocab_size": 50304})"),
                     "test");
  c.validate();
  EXPECT_EQ(c.n_layer, 3);
  EXPECT_FALSE(c.bias);
  ModelConfig d;
  d.update_from_json(c.to_json(), "roundtrip");
  EXPECT_EQ(d.to_json(), c.to_json());
}

TEST(Config, RejectsUnknownKeysWrongTypesAndBadSizes) {
  ModelConfig c;
  EXPECT_THROW(c.update_from_json(nlohmann::json::parse(R"({"n_layers": 3})"), "t"), Error);
  EXPECT_THROW(c.update_from_json(nlohmann::json::parse(R"({"n_layer": "three"})"), "t"), Error);
  ModelConfig bad;
  bad.n_embd = 30;
  bad.n_head = 4;
  EXPECT_THROW(bad.validate(), Error);
  ModelConfig arch;
  arch.arch = "rnn";
  EXPECT_THROW(arch.validate(), Error);
}

}  // namespace
}  // namespace mosaic
