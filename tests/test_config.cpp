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

// The RegBench model's options read, validate, and round-trip; out-of-range values are errors.
// A nanoMosaics config keeps writing only the reference's keys.
TEST(Config, DropoutAndTheIcllOptions) {
  ModelConfig c;
  c.update_from_json(nlohmann::json::parse(R"({"ic_dropout": 0.05, "hd_dropout": 0.05, "init": "fanin",
                                               "scale_logits": true, "kernel_beta_upbound": 5})"),
                     "test");
  c.validate();
  EXPECT_DOUBLE_EQ(c.prob_dropout(), 0.05);
  EXPECT_DOUBLE_EQ(c.embd_dropout(), 0.0);
  ModelConfig d;
  d.update_from_json(c.to_json(), "roundtrip");
  EXPECT_EQ(d.to_json(), c.to_json());
  EXPECT_FALSE(ModelConfig{}.to_json().contains("init")) << "defaults stay out of a nanoMosaics config";
  ModelConfig nano;
  nano.dropout = 0.1;
  EXPECT_DOUBLE_EQ(nano.prob_dropout(), 0.1) << "nanoGPT's single rate everywhere";
  EXPECT_DOUBLE_EQ(nano.resid_dropout(), 0.1);
  ModelConfig rope;
  rope.arch = "gpt";
  rope.n_embd = 64;
  rope.n_head = 4;
  rope.pos_encoding = "rope";
  rope.validate();
  EXPECT_FALSE(rope.learned_positions());
  rope.n_head = 64;  // head size 1: no rotary pair
  EXPECT_THROW(rope.validate(), Error);
  ModelConfig mosaic_alibi;
  mosaic_alibi.pos_encoding = "alibi";
  EXPECT_THROW(mosaic_alibi.validate(), Error) << "the Memory Mosaic has no positions";
  for (const char* bad : {R"({"dropout": 1.0})", R"({"dropout": -0.1})", R"({"ic_dropout": 1.5})", R"({"init": "xavier"})",
                          R"({"kernel_beta_upbound": -1})", R"({"kernel_beta_upbound": 40})"}) {
    ModelConfig b;
    b.update_from_json(nlohmann::json::parse(bad), "t");
    EXPECT_THROW(b.validate(), Error) << bad;
  }
}

}  // namespace
}  // namespace mosaic
