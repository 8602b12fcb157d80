// Child process + JSON hand-over for the reference measurement.
#include "bench/reference.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace mosaic {

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string default_reference_script() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "tools/bench_reference.py";
  return (exe.parent_path().parent_path() / "tools" / "bench_reference.py").string();
}

ReferenceResult measure_reference(const std::string& script, const std::string& reference_dir, const std::string& config,
                                  int threads, int warmup, int steps) {
  MOSAIC_CHECK(std::filesystem::exists(script), "reference benchmark script " + script + " not found",
               "pass --reference-script path/to/tools/bench_reference.py");
  const auto tmp = std::filesystem::temp_directory_path() / ("mosaic_reference_" + std::to_string(getpid()));
  const std::string json_path = tmp.string() + ".json", log_path = tmp.string() + ".log";
  // Debian's torch is installed for /usr/bin/python3. The reference's chatter (parameter
  // counts) goes to a log, shown only when the run fails.
  const std::string command = "/usr/bin/python3 " + shell_quote(script) + " --reference-dir " + shell_quote(reference_dir) +
                              " --config " + shell_quote(config) + " -t " + std::to_string(threads) + " --warmup " +
                              std::to_string(warmup) + " --steps " + std::to_string(steps) + " --json " +
                              shell_quote(json_path) + " > /dev/null 2> " + shell_quote(log_path);
  const int status = std::system(command.c_str());
  const bool ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) {
    std::ifstream log(log_path);
    std::fprintf(stderr, "%s", std::string(std::istreambuf_iterator<char>(log), {}).c_str());
  }
  std::filesystem::remove(log_path);
  MOSAIC_CHECK(ok, "the reference benchmark failed for " + config + " (its message is above)",
               "run tools/bench_reference.py --help; it needs python3-torch and a MemoryMosaics checkout");
  std::ifstream in(json_path);
  const auto j = nlohmann::json::parse(in);
  std::filesystem::remove(json_path);
  const auto& r = j.at("results").at(0);
  return {r.at("tokens_per_s").get<double>(), r.at("median_ms").get<double>(), r.at("peak_rss_mb").get<double>(),
          j.at("torch_version").get<std::string>(), j.at("blas").get<std::string>()};
}

}  // namespace mosaic
