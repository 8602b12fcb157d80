// The three-moons network (paper eq. 6, reference ThreeMoons/model.py): one layer of
// contextual memory whose key (W_phi), value (W_psi) and mixing (W_z) maps are 3x3 complex
// matrices, beta fixed. Not the language-model layers. Shapes: T time, H heads (1 or 3),
// HD = 3/H complex dims per head; an observation is 3 complex = 6 reals [re, im].
#pragma once
#include <array>
#include <string>

#include "core/buffer.hpp"
#include "core/rng.hpp"

namespace mosaic::three_moons {

// Parameters: three complex 3x3 matrices [row][col][re, im] back to back, 54 reals.
// Names follow the reference's modules: W_phi = k_lin, W_psi = v_lin, W_z = out_proj.
inline constexpr int kMatrixReals = 18;
inline constexpr int kParamCount = 3 * kMatrixReals;
enum Matrix : int { kPhi = 0, kPsi = 1, kZ = 2 };
const char* matrix_name(int m);  // "W_phi", "W_psi", "W_z"

struct MoonsModelConfig {
  int n_head = 3;      // 1: one 3-complex-dim head; 3: three 1-complex-dim heads
  double beta = 50.0;  // attention sharpness (the reference's attn_scale), fixed
  double clip = 0.5;   // loss = mean clip(o - x, -clip, clip)^2 (the reference's clipping)
};

// The reference's init: an nn.Linear(6, 6) uniform(+-1/sqrt(6)) projected onto the complex
// structure, so each of re and im is the mean of two such uniforms.
template <class F>
void init_params(Rng& rng, F* params);

// Per-thread scratch for one sequence of length T (grown on demand, never shrunk).
template <class F>
struct Workspace {
  int T = 0;
  Buffer<F> K, V, Y;     // 6 x T each, component-major: K[c * T + t]
  Buffer<F> dK, dV, dY;  // same layout
  Buffer<F> P;           // attention weights, unnormalised: row t is H x t at offset H t (t-1) / 2
  Buffer<F> inv_z;       // H x T: 1 / sum of row t's weights, per head
  Buffer<F> G;           // T scratch for one backward row
  void reserve(int T_, int n_head);
  static size_t row_offset(int t, int n_head) { return static_cast<size_t>(n_head) * t * (t - 1) / 2; }
};

// Loss of one sequence, seq = (T+1) x 6 reals (inputs x_0..x_{T-1}, targets x_1..x_T):
//   k_t = W_phi x_t,  v_t = W_psi x_{t+1} (v_{T-1} = 0),  y_t = sum_{j<t} softmax_j(beta k_t.k_j) v_j
//   (per head, y_0 = 0),  o_t = W_z y_t,  returns sum_{t, c} clip(o_t - x_{t+1})^2.
// When grad is not null, ACCUMULATES grad_scale * d(returned loss)/d(params) into it (54 reals).
template <class F>
double sequence_loss(const MoonsModelConfig& cfg, const F* params, const F* seq, int T, Workspace<F>& ws, F* grad,
                     double grad_scale);

}  // namespace mosaic::three_moons
