// The `mosaic` binary: one CLI11 app, one subcommand per cli/cmd_*.cpp.
// Prints "error: ..." and "hint: ..." for mosaic::Error and exits 1.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <new>

#include "cli/commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"mosaic: Memory Mosaics (arXiv 2405.06394) in C++: train, inspect, sample, benchmark"};
  app.require_subcommand(1, 1);
  app.option_defaults()->always_capture_default();  // every --help shows the defaults
  mosaic::add_check_command(app);
  mosaic::add_info_command(app);
  mosaic::add_prepare_command(app);
  mosaic::add_train_command(app);
  mosaic::add_sample_command(app);
  mosaic::add_bench_command(app);
  mosaic::add_three_moons_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const mosaic::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (!e.hint.empty()) std::fprintf(stderr, "hint: %s\n", e.hint.c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\nhint: use a smaller batch, sequence length or model\n");
    return 1;
  }
  return 0;
}
