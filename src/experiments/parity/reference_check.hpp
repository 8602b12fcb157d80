// Parity with the official PyTorch code: runs one fixture of ../shared/reference (weights, a
// batch, logits, loss, every gradient, 10 AdamW losses, greedy tokens) through our fp32 model
// and reports each comparison. Not a test harness: `mosaic check` and the tests both call it.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace mosaic {

struct ParityLine {
  std::string what;     // "logits", "loss", "grad <name>", "train.losses", "greedy.tokens"
  double max_abs = 0;   // max |ours - reference|
  double max_rel = 0;   // max_abs over the reference tensor's max magnitude (or |ref| for scalars)
  double tolerance = 0; // on max_rel (0 for exact comparisons)
  bool ok = false;
  // Gradients that miss the tolerance against PyTorch are measured against our own float64
  // gradient of the same batch (max_rel of ours and of the reference against it; -1: not run).
  double ours_vs_f64 = -1, reference_vs_f64 = -1;
};

struct ParityReport {
  std::string arch, config;
  std::vector<ParityLine> lines;
  bool pass() const;
};

// Tolerances from ../shared/reference/README.md (float32 agreement with PyTorch).
constexpr double kLogitsTolerance = 1e-4;
constexpr double kGradTolerance = 1e-3;
constexpr double kTrainLossTolerance = 1e-4;

// Throws Error for unreadable or malformed fixtures; mismatches are reported, not thrown.
// on_line (optional) sees each line as soon as it is computed.
ParityReport check_reference_fixture(const std::string& path,
                                     const std::function<void(const ParityLine&)>& on_line = nullptr);

}  // namespace mosaic
