// Fuzzes the config readers on arbitrary files: read_json_file, then TrainConfig and
// ModelConfig update_from_json + validate. What they accept must survive to_json -> text ->
// update_from_json unchanged, and a validated TrainConfig must give a finite learning rate in
// [0, learning_rate] at every step the schedule names. Not a fuzzer of the CLI flag parser.
#include <cmath>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "fuzz_common.hpp"
#include "models/config.hpp"
#include "train/train_config.hpp"

using namespace mosaic;

namespace {

template <class Config>
void check_round_trip(const Config& c) {
  const nlohmann::json saved = c.to_json();
  Config back;
  if constexpr (std::is_same_v<Config, ModelConfig>) back.arch = c.arch;  // ModelConfig::to_json omits arch
  try {
    back.update_from_json(nlohmann::json::parse(saved.dump()), "round-trip");
  } catch (const Error& e) {
    FUZZ_ASSERT(false, std::string("an accepted config does not read back: ") + e.what());
  }
  FUZZ_ASSERT(back.to_json() == saved, "config changed in a to_json round trip: " + saved.dump());
}

void check_schedule(const TrainConfig& c) {
  for (int64_t step : {int64_t{0}, c.warmup_iters - 1, c.warmup_iters, c.lr_decay_iters - 1, c.lr_decay_iters,
                       c.max_iters - 1, c.max_iters}) {
    if (step < 0) continue;
    const double lr = learning_rate_at(c, step);
    FUZZ_ASSERT(std::isfinite(lr) && lr >= 0 && lr <= c.learning_rate * (1 + 1e-12),
                "learning_rate_at(" + std::to_string(step) + ") = " + std::to_string(lr));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir("config");
  static const std::string path = dir.file("config.json");
  fuzz::write_file(path, data, size);
  nlohmann::json j;
  if (!fuzz::ok_or_error([&] { j = read_json_file(path); })) return 0;

  TrainConfig train;
  if (fuzz::ok_or_error([&] { train.update_from_json(j, path); })) {
    check_round_trip(train);
    if (fuzz::ok_or_error([&] { train.validate(); })) check_schedule(train);
  }
  ModelConfig model;
  if (fuzz::ok_or_error([&] { model.update_from_json(j, path); })) {
    check_round_trip(model);
    fuzz::ok_or_error([&] { model.validate(); });
  }
  return 0;
}
