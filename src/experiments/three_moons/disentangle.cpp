// Disentanglement measure: per-head purities of W_phi, W_psi (rows) and W_z (columns) under the
// best head-to-moon permutation. Not a plot. Shapes: 3x3 complex matrices [row][col][re, im].
#include "experiments/three_moons/disentangle.hpp"

#include <algorithm>

#include "experiments/three_moons/model.hpp"

namespace mosaic::three_moons {

namespace {

double abs2(const float* W, int row, int col) {
  const double re = W[(row * 3 + col) * 2], im = W[(row * 3 + col) * 2 + 1];
  return re * re + im * im;
}

// Min over heads of the share of head h's squared weight that sits on moon perm[h].
double purity(const float* W, bool heads_are_rows, const std::array<int, 3>& perm) {
  double worst = 1.0;
  for (int h = 0; h < 3; ++h) {
    double total = 0, own = 0;
    for (int m = 0; m < 3; ++m) {
      const double a = heads_are_rows ? abs2(W, h, m) : abs2(W, m, h);
      total += a;
      if (m == perm[h]) own = a;
    }
    worst = std::min(worst, total > 0 ? own / total : 0.0);
  }
  return worst;
}

}  // namespace

Disentanglement measure_disentanglement(const float* params, double threshold) {
  Disentanglement best;
  best.min_purity = -1;
  std::array<int, 3> perm = {0, 1, 2};
  do {
    Disentanglement d;
    d.moon_of_head = perm;
    d.purity[kPhi] = purity(params + kPhi * kMatrixReals, true, perm);
    d.purity[kPsi] = purity(params + kPsi * kMatrixReals, true, perm);
    d.purity[kZ] = purity(params + kZ * kMatrixReals, false, perm);
    d.min_purity = std::min({d.purity[0], d.purity[1], d.purity[2]});
    if (d.min_purity > best.min_purity) best = d;
  } while (std::next_permutation(perm.begin(), perm.end()));
  best.disentangled = best.min_purity >= threshold;
  return best;
}

}  // namespace mosaic::three_moons
