// `mosaic train`: config = defaults < --config FILE.json < --KEY VALUE flags (every key of
// TrainConfig, e.g. --n_layer 4 --batch_size 8), then the training loop.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "train/trainer.hpp"

namespace mosaic {

namespace {

struct TrainOptions {
  std::string config_file;
  bool resume = false;
  std::map<std::string, std::string> flags;  // key -> raw text, only for flags given
};

}  // namespace

void add_train_command(CLI::App& app) {
  auto opts = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand("train", "train a Memory Mosaic or the GPT baseline on prepared token shards");
  cmd->add_option("-c,--config", opts->config_file, "JSON config (flat: model and trainer keys)");
  cmd->add_flag("--resume", opts->resume, "continue from the newest checkpoint in out_dir");
  const TrainConfig defaults;
  const auto defaults_json = defaults.to_json();
  for (const auto& [key, is_string] : TrainConfig::keys()) {
    std::string help = "default " + (defaults_json.contains(key) ? defaults_json[key].dump() : std::string("-"));
    std::string names = "--" + key + (key == "threads" ? ",-t" : "");
    cmd->add_option_function<std::string>(names, [opts, key](const std::string& v) { opts->flags[key] = v; }, help);
  }
  cmd->callback([opts, defaults_json] {
    TrainConfig config;
    if (!opts->config_file.empty()) config.update_from_json(read_json_file(opts->config_file), opts->config_file);
    nlohmann::json from_flags = nlohmann::json::object();
    for (const auto& [key, text] : opts->flags) {
      bool is_string = false;
      for (const auto& [k, s] : TrainConfig::keys())
        if (k == key) is_string = s;
      if (is_string) {
        from_flags[key] = text;
        continue;
      }
      auto value = nlohmann::json::parse(text, nullptr, false);
      MOSAIC_CHECK(!value.is_discarded() && !value.is_string(), "--" + key + ": '" + text + "' is not a number or boolean",
                   "e.g. --" + key + " " + defaults_json.value(key, nlohmann::json(0)).dump());
      from_flags[key] = value;
    }
    config.update_from_json(from_flags, "command line");
    config.validate();
    const TrainResult r = train(config, opts->resume);
    std::printf("steps %lld  train loss %.4f  val loss %.4f%s\n", static_cast<long long>(r.steps), r.last_train_loss,
                r.last_val_loss, r.interrupted ? "  (interrupted)" : "");
  });
}

}  // namespace mosaic
