// Progress of a long pass on stderr: "label: done/total unit, rate unit/s, elapsed, ETA left".
// On a terminal it is one line rewritten in place ('\r') every second; anywhere else (a file, a
// pipe) a plain line every MOSAIC_PROGRESS_SECONDS (default 5) and a last one at the end, so a
// captured log reads line by line. A pass shorter than the first interval shows nothing.
// Not a logger: results and errors are printed by their commands.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace mosaic {

class ProgressLine {
 public:
  enum class Mode { Terminal, Lines };
  struct Timing {
    double first = 1;  // seconds before the first line
    double every = 1;  // seconds between lines
  };
  // Terminal when stderr is one; Lines otherwise.
  static Mode stderr_mode();
  // The mode's timing: a terminal line from 1 s on, rewritten every second; plain lines every
  // MOSAIC_PROGRESS_SECONDS (default 5, 0: at every update).
  static Timing timing_of(Mode mode);

  // On stderr in its mode. Counts are shown divided by `scale` (1e6 with unit "MB" for bytes).
  ProgressLine(std::string label, std::string unit, double scale = 1);
  // Explicit mode, timing and stream (tests drive it with their own clock through update()).
  ProgressLine(std::string label, std::string unit, Mode mode, Timing timing, std::FILE* out, double scale = 1);
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine();

  // done of total (total <= 0: unknown); `detail` follows the counts. Shown when due, and once
  // more at done == total when anything was shown before (the final count and mean rate).
  void operator()(int64_t done, int64_t total, std::string_view detail = {}) { update(done, total, elapsed(), detail); }
  void update(int64_t done, int64_t total, double seconds, std::string_view detail = {});
  // A whole line of its own (a hint) that a terminal's progress line does not overwrite.
  void note(std::string_view line);
  double elapsed() const;

 private:
  std::string format(int64_t done, int64_t total, double seconds, std::string_view detail, bool final_line);
  void write(const std::string& line);

  std::string label_, unit_;
  Mode mode_;
  Timing timing_;
  std::FILE* out_;
  double scale_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  double next_;                      // seconds at which the next line is due
  double last_seconds_ = 0;          // of the last line shown: the rate is the one since then
  int64_t last_done_ = 0;
  size_t last_width_ = 0;            // terminal: characters to blank when a shorter line follows
  bool shown_ = false, open_ = false, finished_ = false;  // open_: a terminal line without its newline
};

}  // namespace mosaic
