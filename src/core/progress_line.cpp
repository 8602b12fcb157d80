// Progress lines: when one is due, what it says, and how it reaches a terminal or a log.
#include "core/progress_line.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>

#include "core/duration.hpp"
#include "core/error.hpp"

namespace mosaic {

namespace {

constexpr double kLinesEvery = 5;  // seconds between plain lines: a few per minute in a log

std::string count_text(int64_t n, double scale) {
  char buf[32];
  if (scale == 1) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  else std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(n) / scale);
  return buf;
}

std::string rate_text(double per_second) {
  char buf[32];
  std::snprintf(buf, sizeof buf, per_second >= 100 ? "%.0f" : per_second >= 10 ? "%.1f" : "%.2f", per_second);
  return buf;
}

std::string seconds_text(double s) {
  if (s < 60) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.0f s", s);
    return buf;
  }
  return format_duration(s);
}

}  // namespace

ProgressLine::Mode ProgressLine::stderr_mode() { return ::isatty(STDERR_FILENO) == 1 ? Mode::Terminal : Mode::Lines; }

ProgressLine::Timing ProgressLine::timing_of(Mode mode) {
  if (mode == Mode::Terminal) return {1, 1};
  const char* env = std::getenv("MOSAIC_PROGRESS_SECONDS");
  if (env == nullptr || *env == '\0') return {kLinesEvery, kLinesEvery};
  char* end = nullptr;
  const double s = std::strtod(env, &end);
  MOSAIC_CHECK(*end == '\0' && std::isfinite(s) && s >= 0,
               "MOSAIC_PROGRESS_SECONDS='" + std::string(env) + "' is not a number of seconds",
               "set it to the seconds between progress lines in a log (0: every update), or unset it");
  return {s, s};
}

ProgressLine::ProgressLine(std::string label, std::string unit, double scale)
    : ProgressLine(std::move(label), std::move(unit), stderr_mode(), timing_of(stderr_mode()), stderr, scale) {}

ProgressLine::ProgressLine(std::string label, std::string unit, Mode mode, Timing timing, std::FILE* out, double scale)
    : label_(std::move(label)), unit_(std::move(unit)), mode_(mode), timing_(timing), out_(out), scale_(scale),
      next_(timing.first) {}

ProgressLine::~ProgressLine() {
  if (open_) std::fputc('\n', out_);
}

double ProgressLine::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressLine::update(int64_t done, int64_t total, double seconds, std::string_view detail) {
  if (finished_) return;
  const bool final_line = total > 0 && done >= total;
  finished_ = final_line;
  if (final_line ? !shown_ && seconds < timing_.first : seconds < next_) return;
  write(format(done, total, seconds, detail, final_line));
  if (final_line && open_) {
    std::fputc('\n', out_);
    open_ = false;
  }
  std::fflush(out_);
  shown_ = true;
  next_ = seconds + timing_.every;
  last_seconds_ = seconds;
  last_done_ = done;
}

// "eval: 48/312 windows, 9.6 windows/s, 5 s, ETA 28 s"; the last line gives the mean rate and
// no ETA. Between lines the rate is the recent one, so a pass that slows down (a prompt into a
// growing memory) shows it.
std::string ProgressLine::format(int64_t done, int64_t total, double seconds, std::string_view detail, bool final_line) {
  std::string s = label_;
  s.append(": ").append(count_text(done, scale_));
  if (total > 0) s.append("/").append(count_text(total, scale_));
  s.append(" ").append(unit_);
  if (!detail.empty()) s.append(", ").append(detail);
  const bool recent = !final_line && seconds > last_seconds_ && done > last_done_;
  const double span = recent ? seconds - last_seconds_ : seconds;
  const double rate = span > 0 ? static_cast<double>(recent ? done - last_done_ : done) / span : 0;
  if (rate > 0) s.append(", ").append(rate_text(rate / scale_)).append(" ").append(unit_).append("/s");
  s.append(", ").append(seconds_text(seconds));
  if (!final_line && total > 0 && rate > 0)
    s.append(", ETA ").append(seconds_text(static_cast<double>(total - done) / rate));
  return s;
}

void ProgressLine::write(const std::string& line) {
  if (mode_ == Mode::Lines) {
    std::fprintf(out_, "%s\n", line.c_str());
    return;
  }
  const size_t blank = last_width_ > line.size() ? last_width_ - line.size() : 0;
  std::fprintf(out_, "\r%s%*s", line.c_str(), static_cast<int>(blank), "");
  last_width_ = line.size();
  open_ = true;
}

void ProgressLine::note(std::string_view line) {
  if (open_) std::fputc('\n', out_);
  open_ = false;
  last_width_ = 0;
  std::fprintf(out_, "%.*s\n", static_cast<int>(line.size()), line.data());
  std::fflush(out_);
}

}  // namespace mosaic
