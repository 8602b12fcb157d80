// Sums in double per window, then statistics over windows. A range's difference is the
// token-weighted mean (windows may score different counts in document mode): a ratio of sums,
// whose standard error is the linearised (delta-method) one and whose interval resamples windows.
#include "eval/paired.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <tuple>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace mosaic {

std::vector<PositionRange> parse_position_ranges(const std::string& text, int T) {
  std::vector<PositionRange> ranges;
  const std::string hint = "give ranges of positions as begin:end (0-based, end excluded), comma-separated, e.g. 0:32,96:" +
                           std::to_string(T);
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    const size_t colon = item.find(':');
    PositionRange r;
    const auto parse = [&](std::string_view s, int& v) {
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      return ec == std::errc() && end == s.data() + s.size() && !s.empty();
    };
    MOSAIC_CHECK(colon != std::string::npos && parse(std::string_view(item).substr(0, colon), r.begin) &&
                     parse(std::string_view(item).substr(colon + 1), r.end),
                 "--ranges: '" + item + "' is not begin:end", hint);
    MOSAIC_CHECK(0 <= r.begin && r.begin < r.end && r.end <= T,
                 "--ranges: " + item + " is not a non-empty range inside the window of " + std::to_string(T) + " positions",
                 hint);
    ranges.push_back(r);
    at = comma + 1;
  }
  return ranges;
}

std::vector<PositionRange> default_position_ranges(int T) {
  std::vector<PositionRange> ranges{{0, T}};
  if (T < 4) return ranges;
  for (int q = 0; q < 4; ++q) ranges.push_back({q * T / 4, (q + 1) * T / 4});
  return ranges;
}

namespace {

struct WindowSums {
  double a = 0, b = 0;
  int64_t n = 0;
};

// The 2.5% and 97.5% quantiles of the resampled ratio sum(a - b) / sum(n) over windows.
std::pair<double, double> bootstrap_interval(std::span<const WindowSums> w, int samples, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> stats;
  stats.reserve(samples);
  for (int s = 0; s < samples; ++s) {
    double diff = 0;
    int64_t n = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      const WindowSums& x = w[rng.below(w.size())];
      diff += x.a - x.b;
      n += x.n;
    }
    stats.push_back(diff / static_cast<double>(n));
  }
  std::sort(stats.begin(), stats.end());
  const auto at = [&](double q) { return stats[std::min<size_t>(stats.size() - 1, static_cast<size_t>(q * stats.size()))]; };
  return {at(0.025), at(0.975)};
}

PairedStat range_stat(std::span<const float> a, std::span<const float> b, int T, PositionRange range, int samples,
                      uint64_t seed) {
  const int64_t W = static_cast<int64_t>(a.size()) / T;
  std::vector<WindowSums> sums;
  for (int64_t w = 0; w < W; ++w) {
    WindowSums s;
    for (int t = range.begin; t < range.end; ++t) {
      const float x = a[w * T + t];
      if (std::isnan(x)) continue;
      s.a += x;
      s.b += b[w * T + t];
      ++s.n;
    }
    if (s.n > 0) sums.push_back(s);
  }
  PairedStat r;
  r.range = range;
  r.windows = static_cast<int64_t>(sums.size());
  if (sums.empty()) return r;
  double total_a = 0, total_b = 0;
  for (const WindowSums& s : sums) {
    total_a += s.a;
    total_b += s.b;
    r.tokens += s.n;
  }
  const double n = static_cast<double>(r.tokens);
  r.mean_a = total_a / n;
  r.mean_b = total_b / n;
  r.difference = (total_a - total_b) / n;
  if (sums.size() > 1) {
    double sq = 0;  // residuals of each window's sum against the ratio's prediction
    for (const WindowSums& s : sums) sq += std::pow((s.a - s.b) - r.difference * static_cast<double>(s.n), 2);
    const double Wd = static_cast<double>(sums.size());
    r.stderr_paired = std::sqrt(sq * Wd / (Wd - 1)) / n;
  }
  r.bootstrapped = samples > 0 && sums.size() > 1;
  if (r.bootstrapped) {
    std::tie(r.ci_low, r.ci_high) = bootstrap_interval(sums, samples, seed);
  } else {
    r.ci_low = r.difference - 1.96 * r.stderr_paired;
    r.ci_high = r.difference + 1.96 * r.stderr_paired;
  }
  return r;
}

}  // namespace

PairedComparison compare_paired(std::span<const float> a, std::span<const float> b, int T,
                                std::span<const PositionRange> ranges, int bootstrap_samples, uint64_t seed) {
  MOSAIC_CHECK(T > 0 && a.size() == b.size() && a.size() % T == 0,
               "the two models were scored on different windows",
               "compare two evaluations of the same text at the same --context");
  for (size_t i = 0; i < a.size(); ++i)
    MOSAIC_CHECK(std::isnan(a[i]) == std::isnan(b[i]), "the two models did not score the same targets",
                 "compare two evaluations of the same text at the same --context");
  PairedComparison c;
  c.bootstrap_samples = bootstrap_samples;
  c.bootstrap_seed = seed;
  const int64_t W = static_cast<int64_t>(a.size()) / T;
  c.mean_a.assign(T, 0.0);
  c.mean_b.assign(T, 0.0);
  c.difference.assign(T, 0.0);
  c.stderr_paired.assign(T, 0.0);
  c.windows.assign(T, 0);
  for (int t = 0; t < T; ++t) {
    double sa = 0, sb = 0, sd = 0, sdd = 0;
    int64_t n = 0;
    for (int64_t w = 0; w < W; ++w) {
      const float x = a[w * T + t], y = b[w * T + t];
      if (std::isnan(x)) continue;
      const double d = static_cast<double>(x) - y;
      sa += x;
      sb += y;
      sd += d;
      sdd += d * d;
      ++n;
    }
    c.windows[t] = n;
    if (n == 0) continue;
    const double nd = static_cast<double>(n);
    c.mean_a[t] = sa / nd;
    c.mean_b[t] = sb / nd;
    c.difference[t] = sd / nd;
    if (n > 1) c.stderr_paired[t] = std::sqrt(std::max(0.0, (sdd - sd * sd / nd) / (nd - 1)) / nd);
  }
  for (size_t i = 0; i < ranges.size(); ++i)
    c.ranges.push_back(range_stat(a, b, T, ranges[i], bootstrap_samples, mix64(seed + i)));
  return c;
}

std::string paired_positions_csv(const PairedComparison& c) {
  std::string csv = "position,mean_loss_a,mean_loss_b,difference,paired_stderr,windows\n";
  char line[160];
  for (size_t t = 0; t < c.difference.size(); ++t) {
    if (c.windows[t] == 0) continue;
    std::snprintf(line, sizeof line, "%zu,%.6f,%.6f,%.6f,%.6f,%lld\n", t, c.mean_a[t], c.mean_b[t], c.difference[t],
                  c.stderr_paired[t], static_cast<long long>(c.windows[t]));
    csv += line;
  }
  return csv;
}

}  // namespace mosaic
