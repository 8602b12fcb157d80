// `mosaic info FILE.safetensors`: metadata, model config and parameter count, the tensor table,
// and with --activations B the activation arena of a training step of B x block_size tokens.
#include <CLI/CLI.hpp>

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
  cmd->add_option("file", *path, "a checkpoint or parity fixture (.safetensors)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--activations", *batch, "also list the activation arena of a training step of this batch size")
      ->check(CLI::Range(1, 1 << 16));
  cmd->callback([path, batch] {
    const auto file = safetensors::Reader::open(*path);
    std::printf("file      %s\n", path->c_str());
    for (const auto& [k, v] : file.metadata()) std::printf("metadata  %-10s %s\n", k.c_str(), v.c_str());
    if (file.metadata().count("config")) {
      const ModelConfig config = read_model_config(file);
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
  });
}

}  // namespace mosaic
