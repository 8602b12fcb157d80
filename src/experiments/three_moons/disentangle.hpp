// Predictive disentanglement of a trained 3-head three-moons network (paper figure 6): does
// each head read, remember and write back exactly one moon? Not training, not plotting.
// Shapes: W_phi and W_psi are (head x moon), W_z is (moon x head), all 3x3 complex.
#pragma once
#include <array>

namespace mosaic::three_moons {

// For an assignment moon_of_head (a permutation), the purity of head h in a matrix is the share
// of that head's squared weight on its own moon: |W_phi[h][m]|^2 / sum_m' |W_phi[h][m']|^2 with
// m = moon_of_head[h] (a row of W_phi or W_psi, a column of W_z). Row and column shares are
// invariant to the per-head rescalings that leave the network's function unchanged.
struct Disentanglement {
  std::array<int, 3> moon_of_head{};  // the permutation with the largest min_purity
  std::array<double, 3> purity{};     // per matrix (W_phi, W_psi, W_z): min over heads
  double min_purity = 0;              // min over the three matrices
  bool disentangled = false;          // min_purity >= threshold
};

inline constexpr double kDisentangledPurity = 0.9;  // >= 90% of every head's weight on one moon

Disentanglement measure_disentanglement(const float* params, double threshold = kDisentangledPurity);

}  // namespace mosaic::three_moons
