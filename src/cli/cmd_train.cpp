// `mosaic train`: config = defaults < --config FILE.json < --KEY VALUE flags (a flag per key of
// the config tables, e.g. --n_layer 4 --batch_size 8; --help gives each key's meaning), then the
// training loop. --resume starts from the run's own config.json instead of the defaults: what the
// file and flags change is printed (and recorded in config.json), and a change to the model is an error.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/config_table.hpp"
#include "core/error.hpp"
#include "core/json_value.hpp"
#include "dist/communicator.hpp"
#include "train/trainer.hpp"

namespace mosaic {

namespace {

bool is_model_key(const std::string& key) { return find_field(ModelConfig::fields(), key) != nullptr; }

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
  const auto keys = std::make_shared<const std::vector<ConfigKey>>(TrainConfig::keys());
  for (const auto& k : *keys) {
    const std::string help = k.meaning + (k.range_text.empty() ? "" : " (" + k.range_text + ")");
    cmd->add_option_function<std::string>((k.alias.empty() ? "" : k.alias + ",") + "--" + k.name,
                                          [opts, key = k.name](const std::string& v) { opts->flags[key] = v; }, help)
        ->type_name(k.type_name)
        ->default_str(k.default_text)
        ->group(is_model_key(k.name) ? "Model (the reference's field names)" : "Trainer");
  }
  cmd->callback([opts, keys] {
    TrainConfig config;
    nlohmann::json from_file = nlohmann::json::object();
    if (!opts->config_file.empty()) {
      from_file = read_json_file(opts->config_file);
      config.update_from_json(from_file, opts->config_file);
    }
    nlohmann::json from_flags = nlohmann::json::object();
    for (const auto& [key, text] : opts->flags) {
      const auto k = std::find_if(keys->begin(), keys->end(), [&](const ConfigKey& c) { return c.name == key; });
      if (k->is_string) {
        from_flags[key] = text;
        continue;
      }
      auto value = json_nesting_depth(text) <= kMaxJsonDepth ? nlohmann::json::parse(text, nullptr, false)
                                                              : nlohmann::json(nlohmann::json::value_t::discarded);
      MOSAIC_CHECK(!value.is_discarded() && !value.is_string(), "--" + key + ": '" + text + "' is not a number or boolean",
                   "e.g. --" + key + " " + k->default_text);
      from_flags[key] = value;
    }
    config.update_from_json(from_flags, "command line");
    // Under mpirun only rank 0 reads the run folder; the trainer hands its config to the others.
    const bool lead = Communicator::world().rank() == 0;
    if (opts->resume && lead)
      config = resumed_config(config.out_dir, {{from_file, opts->config_file}, {from_flags, "command line"}});
    config.validate();
    const TrainResult r = train(config, opts->resume);
    if (lead && r.steps_run == 0)
      std::printf("steps %lld: the run had already finished (max_iters %lld)\n", static_cast<long long>(r.steps),
                  static_cast<long long>(config.max_iters));
    else if (lead)
      std::printf("steps %lld  train loss %.4f  val loss %.4f (estimate)%s\n", static_cast<long long>(r.steps),
                  r.last_train_loss, r.last_val_loss, r.interrupted ? "  (interrupted)" : "");
  });
}

}  // namespace mosaic
