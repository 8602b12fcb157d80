// The `mosaic` binary: one CLI11 app, one subcommand per cli/cmd_*.cpp.
// Prints "error: ..." and "hint: ..." for mosaic::Error and for the parser's errors, and exits 1.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
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
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // The parser's own complaints in the same two lines as every other error.
    const auto parsed = app.get_subcommands();
    const std::string command = parsed.empty() ? "mosaic" : "mosaic " + parsed.back()->get_name();
    std::fprintf(stderr, "error: %s\nhint: %s --help lists the options and their defaults\n", e.what(), command.c_str());
    return 1;
  } catch (const mosaic::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (!e.hint.empty()) std::fprintf(stderr, "hint: %s\n", e.hint.c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\nhint: use a smaller batch, sequence length or model\n");
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "error: %s\nhint: check the paths given and their permissions\n", e.what());
    return 1;
  } catch (const std::exception& e) {  // a case no check above foresaw: still one line, not an abort
    std::fprintf(stderr, "error: %s\nhint: this input reached a path without its own check; please report it\n", e.what());
    return 1;
  }
  return 0;
}
