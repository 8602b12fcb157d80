// `mosaic info FILE.safetensors | RUN_DIR`: metadata, model config (from the metadata, or
// inferred from the tensors of a plain state_dict) and parameter count, the tensor table, and
// with --activations B the activation arena of a training step of B x block_size tokens.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/param_table.hpp"
#include "io/model_io.hpp"
#include "io/safetensors.hpp"
#include "models/factory.hpp"
#include "models/language_model.hpp"

namespace mosaic {

// Metadata comes from the file: control characters (a terminal's escape sequences) are shown
// as \xNN, never sent to the terminal.
static std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c != 0x7F) {
      out += static_cast<char>(c);
      continue;
    }
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02X", c);
    out += buf;
  }
  return out;
}

static std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && u < 3) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", b, units[u]);
  return buf;
}

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto batch = std::make_shared<int>(0);
  auto* cmd = app.add_subcommand("info", "show a safetensors file: metadata, model config, parameters");
  cmd->add_option("file", *path, "a checkpoint, a run folder (its newest checkpoint) or a parity fixture")->required();
  cmd->add_option("--activations", *batch, "also list the activation arena of a training step of this batch size")
      ->check(CLI::Range(1, 1 << 16));
  cmd->callback([path, batch] {
    const std::string resolved = resolve_model_path(*path);
    const auto file = safetensors::Reader::open(resolved);
    std::printf("file      %s\n", printable(resolved).c_str());
    for (const auto& [k, v] : file.metadata())
      std::printf("metadata  %-10s %s\n", printable(k).c_str(), printable(v).c_str());
    const bool has_config = file.metadata().count("config") > 0;
    bool plain_state_dict = false;  // a PyTorch state_dict without our metadata
    for (const char* wte : {"mosaic.wte.weight", "transformer.wte.weight", "wte.weight", "lm_head.weight"})
      plain_state_dict |= !has_config && file.has(wte);
    if (has_config || plain_state_dict) {
      const ModelConfig config = read_model_config(file);
      if (plain_state_dict) std::printf("config    %s (inferred from the tensor shapes)\n", config.to_json().dump().c_str());
      auto model = make_model<float>(config);  // for the exact parameter count of this config
      std::printf("model     %s, %zu parameters (%.2fM)\n", config.arch.c_str(), model->params().count(),
                  model->params().count() / 1e6);
      if (*batch > 0) {
        model->reserve(*batch, config.block_size);
        std::printf("activations of a training step, B = %d, T = %d:\n%s", *batch, config.block_size,
                    model->activations().table().c_str());
      }
    } else {
      MOSAIC_CHECK(*batch == 0, *path + " holds no model config", "--activations needs a model file written by mosaic train");
    }
    size_t total = 0;
    std::printf("%-64s %-5s %-20s %12s\n", "tensor", "dtype", "shape", "elements");
    for (const auto& name : file.names()) {
      const auto& t = file.info(name);
      total += t.nbytes();
      std::printf("%-64s %-5s %-20s %12lld\n", name.c_str(), safetensors::dtype_name(t.dtype),
                  shape_string(t.shape).c_str(), static_cast<long long>(t.numel()));
    }
    std::printf("%zu tensors, %s of data\n", file.names().size(), human_bytes(static_cast<double>(total)).c_str());
    for (const auto& name : file.names()) {  // what a model load would refuse, said here
      const auto dtype = file.info(name).dtype;
      if (dtype != safetensors::DType::F32 && dtype != safetensors::DType::F16 && dtype != safetensors::DType::BF16 &&
          dtype != safetensors::DType::F64)
        continue;
      size_t bad = 0;
      for (float v : file.read_f32(name)) bad += !std::isfinite(v);
      if (bad) std::printf("warning: tensor %s holds %zu non-finite values\n", printable(name).c_str(), bad);
    }
  });
}

}  // namespace mosaic
