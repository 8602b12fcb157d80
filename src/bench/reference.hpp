// The official PyTorch code's training throughput, measured by tools/bench_reference.py in a
// child process, so that `mosaic bench train --reference DIR` reports ours / reference from one
// run on one machine under one load (absolute figures on shared machines swing too much to
// compare across runs).
#pragma once
#include <string>

namespace mosaic {

struct ReferenceResult {
  double tokens_per_s = 0, median_ms = 0, peak_rss_mb = 0;
  std::string torch_version, blas;
};

// tools/bench_reference.py next to this executable's build folder (../tools from build/mosaic).
std::string default_reference_script();

// Runs the script for one config (d128, d256, d128-gpt, d256-gpt) with the same threads,
// warm-up and steps as ours; Error with a hint when it fails.
ReferenceResult measure_reference(const std::string& script, const std::string& reference_dir, const std::string& config,
                                  int threads, int warmup, int steps);

}  // namespace mosaic
