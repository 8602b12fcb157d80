// A progress line on stderr for long passes over an input: "label: done/total unit, N s",
// rewritten every 2 s once a run has taken that long, ended by a newline when destroyed.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>

namespace mosaic {

class ProgressLine {
 public:
  ProgressLine(const char* label, const char* unit) : label_(label), unit_(unit) {}
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  void operator()(int64_t done, int64_t total) {
    const double since = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (since < next_ && done < total) return;
    if (since < 2.0 && !shown_) return;
    std::fprintf(stderr, "\r%s: %lld/%lld %s, %.0f s", label_, static_cast<long long>(done),
                 static_cast<long long>(total), unit_, since);
    shown_ = true;
    next_ = since + 2.0;
  }
  ~ProgressLine() {
    if (shown_) std::fprintf(stderr, "\n");
  }

 private:
  const char *label_, *unit_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  double next_ = 2.0;
  bool shown_ = false;
};

}  // namespace mosaic
