// A length of time as text for progress lines and ETAs: "1h05m" or "5m30s" (the two largest
// units), or always hours, minutes and seconds ("0h05m30s"). Not a clock and not a parser.
#pragma once
#include <cstdio>
#include <string>

namespace mosaic {

enum class DurationFormat {
  two_units,  // the trainer's step lines: "1h05m" from an hour on, else "5m30s"
  hms,        // RegBench's grid ETA: "0h05m30s"
};

inline std::string format_duration(double seconds, DurationFormat format = DurationFormat::two_units) {
  char buf[32];
  const long s = static_cast<long>(seconds);
  if (format == DurationFormat::hms) std::snprintf(buf, sizeof buf, "%ldh%02ldm%02lds", s / 3600, (s / 60) % 60, s % 60);
  else if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

}  // namespace mosaic
