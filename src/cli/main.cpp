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
#include "dist/communicator.hpp"
#include "kernels/cpu_target.hpp"

// A message as one readable line: control characters (a newline in a file name, an escape
// sequence) shown as \xNN, and any word over 160 characters (a 5,000-character path) cut in
// the middle.
static std::string one_line(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = i;
    while (end < text.size() && text[end] != ' ') ++end;
    std::string word = text.substr(i, end - i);
    if (word.size() > 160)
      word = word.substr(0, 70) + "...(" + std::to_string(word.size()) + " characters)..." + word.substr(word.size() - 70);
    for (const unsigned char c : word) {
      if (c < 0x20 || c == 0x7f) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02X", c);
        out += hex;
      } else {
        out += static_cast<char>(c);
      }
    }
    if (end < text.size()) out += ' ';
    i = end + 1;
  }
  return out;
}

// Prints the error and returns main's exit status; under mpirun it names the rank and ends
// the other ranks too (none may wait forever in a collective for this one).
static int fail(const std::string& message, const std::string& hint) {
  auto& world = mosaic::Communicator::world();
  const std::string rank =
      world.distributed() ? "rank " + std::to_string(world.rank()) + " of " + std::to_string(world.size()) + ": " : "";
  std::fprintf(stderr, "error: %s%s\n", rank.c_str(), one_line(message).c_str());
  if (!hint.empty()) std::fprintf(stderr, "hint: %s\n", one_line(hint).c_str());
  std::fflush(stderr);
  world.abort_others(1);
  return 1;
}

int main(int argc, char** argv) {
  CLI::App app{"mosaic: Memory Mosaics (arXiv 2405.06394) in C++: train, inspect, sample, benchmark"};
  app.require_subcommand(1, 1);
  app.option_defaults()->always_capture_default();  // every --help shows the defaults
  mosaic::add_check_command(app);
  mosaic::add_info_command(app);
  mosaic::add_prepare_command(app);
  mosaic::add_train_command(app);
  mosaic::add_sample_command(app);
  mosaic::add_eval_command(app);
  mosaic::add_attention_command(app);
  mosaic::add_regbench_command(app);
  mosaic::add_many_shot_command(app);
  mosaic::add_bench_command(app);
  mosaic::add_three_moons_command(app);
  mosaic::add_serve_command(app);
  try {
    mosaic::simd_target();  // a bad MOSAIC_SIMD is an error here, not inside a kernel's parallel loop
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // The parser's own complaints in the same two lines as every other error.
    const auto parsed = app.get_subcommands();
    const std::string command = parsed.empty() ? "mosaic" : "mosaic " + parsed.back()->get_name();
    return fail(e.what(), command + " --help lists the options and their defaults");
  } catch (const mosaic::Error& e) {
    return fail(e.what(), e.hint);
  } catch (const std::bad_alloc&) {
    return fail("out of memory", "use a smaller batch, sequence length or model");
  } catch (const std::filesystem::filesystem_error& e) {
    return fail(e.what(), "check the paths given and their permissions");
  } catch (const std::exception& e) {  // a case no check above foresaw: still one line, not an abort
    return fail(e.what(), "this input reached a path without its own check; please report it");
  }
  return 0;
}
