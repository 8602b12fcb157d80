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

static void print_error(const std::string& message, const std::string& hint) {
  std::fprintf(stderr, "error: %s\n", one_line(message).c_str());
  if (!hint.empty()) std::fprintf(stderr, "hint: %s\n", one_line(hint).c_str());
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
  mosaic::add_bench_command(app);
  mosaic::add_three_moons_command(app);
  try {
    mosaic::simd_target();  // a bad MOSAIC_SIMD is an error here, not inside a kernel's parallel loop
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // The parser's own complaints in the same two lines as every other error.
    const auto parsed = app.get_subcommands();
    const std::string command = parsed.empty() ? "mosaic" : "mosaic " + parsed.back()->get_name();
    print_error(e.what(), command + " --help lists the options and their defaults");
    return 1;
  } catch (const mosaic::Error& e) {
    print_error(e.what(), e.hint);
    return 1;
  } catch (const std::bad_alloc&) {
    print_error("out of memory", "use a smaller batch, sequence length or model");
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    print_error(e.what(), "check the paths given and their permissions");
    return 1;
  } catch (const std::exception& e) {  // a case no check above foresaw: still one line, not an abort
    print_error(e.what(), "this input reached a path without its own check; please report it");
    return 1;
  }
  return 0;
}
