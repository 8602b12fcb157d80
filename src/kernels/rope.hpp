// Rotary position embedding (Su et al. 2021, as in GPT-NeoX and llama): each head's pairs
// (x_2i, x_2i+1) of a query or key at position p are rotated by the angle p * theta_i, with
// theta_i = 10000^(-2i / hs). The dot product of a rotated query and key depends on their
// positions only through the difference, so nothing in the model is tied to absolute
// positions and a context longer than training is computable (whether it is good is
// figure 13's question). inverse = true rotates back: the backward pass of a rotation.
// Shapes: x rows of `heads` * hs channels with row stride ld; positions (rows).
#pragma once
#include <cmath>
#include <cstdint>

namespace mosaic {

constexpr double kRopeBase = 10000.0;

template <class F>
void rope_rows(F* x, int64_t ld, int rows, int heads, int hs, const int64_t* positions, bool inverse = false) {
  const int pairs = hs / 2;
  for (int r = 0; r < rows; ++r) {
    F* row = x + r * ld;
    for (int i = 0; i < pairs; ++i) {
      const double angle = static_cast<double>(positions[r]) * std::pow(kRopeBase, -2.0 * i / hs);
      const F c = static_cast<F>(std::cos(angle)), s = static_cast<F>(inverse ? -std::sin(angle) : std::sin(angle));
      for (int h = 0; h < heads; ++h) {
        F* pair = row + h * hs + 2 * i;
        const F a = pair[0], b = pair[1];
        pair[0] = a * c - b * s;
        pair[1] = a * s + b * c;
      }
    }
  }
}

// ALiBi (Press et al. 2022): head h adds -slope_h * (i - j) to the score of query i on key j.
// The slopes are the paper's geometric sequence, 2^(-8 (h + 1) / H) for H a power of two;
// otherwise those of the power of two below, then every other one of the power above.
inline double alibi_slope(int head, int heads) {
  auto power_of_two_slopes = [](int n, int k) { return std::pow(2.0, -8.0 * (k + 1) / n); };
  int below = 1;
  while (below * 2 <= heads) below *= 2;
  if (head < below) return power_of_two_slopes(below, head);
  return power_of_two_slopes(2 * below, 2 * (head - below));
}

}  // namespace mosaic
