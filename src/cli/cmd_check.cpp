// `mosaic check FIXTURE...`: verify this build against the official PyTorch code's fixtures.
// One line per comparison (max abs and max relative difference), then PASS or FAIL; exit 1 on FAIL.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "experiments/parity/reference_check.hpp"

namespace mosaic {

void add_check_command(CLI::App& app) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto verbose = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("check", "compare forward, gradients, AdamW steps and greedy decoding with PyTorch fixtures");
  cmd->add_option("fixtures", *files, "parity fixtures (../shared/reference/*.safetensors)")->required()->check(CLI::ExistingFile);
  cmd->add_flag("-v,--verbose", *verbose, "print every gradient line, not only failures and a summary");
  cmd->callback([files, verbose] {
    bool all_pass = true;
    for (const auto& path : *files) {
      std::printf("%s\n", path.c_str());
      size_t grads = 0, grads_ok = 0;
      double worst_grad = 0;
      auto report = check_reference_fixture(path, [&](const ParityLine& line) {
        const bool is_grad = line.what.starts_with("grad ");
        if (is_grad) {
          ++grads;
          grads_ok += line.ok;
          worst_grad = std::max(worst_grad, line.max_rel);
        }
        if (is_grad && line.ok && line.ours_vs_f64 < 0 && !*verbose) return;
        std::printf("  %-62s max_abs %.3e  max_rel %.3e  (tol %.0e)  %s\n", line.what.c_str(), line.max_abs,
                    line.max_rel, line.tolerance, line.ok ? "ok" : "MISMATCH");
        if (line.ours_vs_f64 >= 0)
          std::printf("  %-62s against our float64 gradient: ours %.3e, reference %.3e: %s\n", "", line.ours_vs_f64,
                      line.reference_vs_f64,
                      line.ok ? "ok, the reference's float32 rounding" : "MISMATCH");
      });
      std::printf("  %-62s %zu/%zu within tolerance, worst max_rel %.3e\n", "gradients", grads_ok, grads, worst_grad);
      std::printf("  %s %s %s\n", report.pass() ? "PASS" : "FAIL", report.arch.c_str(), report.config.c_str());
      all_pass = all_pass && report.pass();
    }
    std::printf("%s\n", all_pass ? "PASS" : "FAIL");
    if (!all_pass) throw Error("parity check failed", "see the MISMATCH lines above; run with -v for every tensor");
  });
}

}  // namespace mosaic
