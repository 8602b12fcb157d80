// ModelConfig and TrainConfig: reference field names, unknown keys and impossible values are
// errors; the field tables feed the hints, the ranges and the JSON round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "core/config_table.hpp"
#include "core/error.hpp"
#include "models/config.hpp"
#include "train/train_config.hpp"

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

// The hint of an unknown key lists every key of the tables, and nothing the tables leave out.
TEST(Config, UnknownKeyHintListsEveryKey) {
  auto hint_of = [](auto config, const char* json) {
    try {
      config.update_from_json(nlohmann::json::parse(json), "t");
    } catch (const Error& e) {
      return e.hint;
    }
    ADD_FAILURE() << json << " was accepted";
    return std::string();
  };
  const std::string model_hint = hint_of(ModelConfig{}, R"({"n_layers": 3})");
  const std::string train_hint = hint_of(TrainConfig{}, R"({"batch": 3})");
  for (const auto& f : ModelConfig::fields()) {
    const bool listed = model_hint.find(std::string(" ") + f.key) != std::string::npos;
    EXPECT_EQ(listed, !f.ignored()) << f.key << ": " << model_hint;
  }
  for (const auto& k : TrainConfig::keys()) EXPECT_NE(train_hint.find(" " + k.name), std::string::npos) << k.name;
  EXPECT_EQ(TrainConfig::keys().size(), ModelConfig::fields().size() - 1 + TrainConfig::fields().size());
  ModelConfig reference_only;  // the reference's leaky_cuda is read and ignored by a model file's config
  reference_only.update_from_json(nlohmann::json::parse(R"({"leaky_cuda": true})"), "t");
  EXPECT_EQ(reference_only.to_json(), ModelConfig{}.to_json());
}

// A value of the field other than its default, inside its range where it has one.
template <class C>
nlohmann::json other_value(const ConfigField<C>& f, const C& defaults) {
  const nlohmann::json d = field_json(f, defaults);
  if (d.is_boolean()) return !d.get<bool>();
  if (d.is_string()) return d.get<std::string>() + "x";
  const Range& r = f.range;
  double v = !std::isinf(r.lo) && !std::isinf(r.hi) ? r.lo + (r.hi - r.lo) / 4 : d.get<double>() + 1.5;
  if (!d.is_number_float()) return static_cast<int64_t>(v);
  return v;
}

// Every key, set alone to a value other than its default: to_json writes it, and
// update_from_json reads back the same config.
TEST(Config, EveryKeyRoundTripsThroughJson) {
  const TrainConfig defaults;
  auto check = [&](const auto& fields, auto&& config_of) {
    for (const auto& f : fields) {
      if (f.ignored()) continue;
      TrainConfig c;
      read_field(f, config_of(c), other_value(f, config_of(defaults)), "test");
      ASSERT_NE(field_json(f, config_of(c)), field_json(f, config_of(defaults))) << f.key;
      const nlohmann::json saved = c.to_json();
      EXPECT_TRUE(saved.contains(f.key)) << f.key;
      TrainConfig back;
      back.update_from_json(nlohmann::json::parse(saved.dump()), "round trip");
      EXPECT_EQ(field_json(f, config_of(back)), field_json(f, config_of(c))) << f.key;
      EXPECT_EQ(back.to_json(), saved) << f.key;
    }
  };
  check(ModelConfig::fields(), [](auto& t) -> auto& { return t.model; });
  check(TrainConfig::fields(), [](auto& t) -> auto& { return t; });
}

// Plain ranges come from the tables: the error names the key and its range, the hint its meaning.
TEST(Config, RangesComeFromTheTables) {
  auto error_of = [](const char* json) {
    TrainConfig c;
    c.update_from_json(nlohmann::json::parse(json), "t");
    try {
      c.validate();
    } catch (const Error& e) {
      return std::string(e.what()) + "\n" + e.hint;
    }
    return std::string("accepted");
  };
  EXPECT_EQ(error_of(R"({"n_embd": 536870912, "n_head": 1})"),
            "n_embd 536870912 must be in [1, 16384]\nn_embd: channels C (default 768)");
  EXPECT_EQ(error_of(R"({"warmup_iters": 9223372036854775807})").rfind("warmup_iters 9223372036854775807 must be in [0, 2^50]", 0),
            0u);
  EXPECT_EQ(error_of(R"({"ic_dropout": 1.5})").rfind("ic_dropout 1.5 must be in [0, 1) or -1", 0), 0u);
  EXPECT_EQ(error_of(R"({"learning_rate": 0})").rfind("learning_rate 0.0 must be > 0", 0), 0u);
  EXPECT_EQ(error_of(R"({"min_lr": 0.01})").rfind("min_lr 0.01 is larger than learning_rate 0.001", 0), 0u);
  EXPECT_EQ(error_of(R"({"arch": "gpt", "pmem_size": 0})"), "accepted") << "pmem_* apply to the Memory Mosaic only";
  EXPECT_EQ(error_of(R"({"pmem_size": 0})").rfind("pmem_size 0 must be in [1, 2^20]", 0), 0u);
  EXPECT_EQ(error_of(R"({"key_decay": 1.0})").rfind("key_decay 1.0 must be in [0, 1) or -1", 0), 0u);
  EXPECT_EQ(error_of(R"({"key_decay": 0.9})"), "accepted");
  EXPECT_EQ(error_of(R"({"key_decay": 0.9, "short_term_window": 8})").rfind("key_decay with v2's gated keys", 0), 0u);
  EXPECT_EQ(error_of(R"({"key_decay": 0.9, "short_term_window": 8, "key_gate": false})"), "accepted");
}

}  // namespace
}  // namespace mosaic
