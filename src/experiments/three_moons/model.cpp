// Three-moons model: init, and the loss of one sequence with its backward directly below
// the forward (flat, in mirror order). Not the trainer and not the autoregressive evaluation.
// Shapes: T time, H heads, 6 reals per observation; memories are component-major (c * T + t).
#include "experiments/three_moons/model.hpp"

#include <cmath>

#include "core/error.hpp"
#include "experiments/three_moons/kernels.hpp"

namespace mosaic::three_moons {

const char* matrix_name(int m) {
  static const char* names[] = {"W_phi", "W_psi", "W_z"};
  return names[m];
}

template <class F>
void init_params(Rng& rng, F* params) {
  const double bound = 1.0 / std::sqrt(6.0);
  auto u = [&] { return (2.0 * rng.uniform() - 1.0) * bound; };
  for (int i = 0; i < kParamCount; ++i) params[i] = static_cast<F>(0.5 * (u() + u()));
}

template <class F>
void Workspace<F>::reserve(int T_, int n_head) {
  if (T_ == T && inv_z.size() == static_cast<size_t>(n_head) * T_) return;
  T = T_;
  for (Buffer<F>* b : {&K, &V, &Y, &dK, &dV, &dY}) b->resize(6 * static_cast<size_t>(T));
  P.resize(row_offset(T, n_head));
  inv_z.resize(static_cast<size_t>(n_head) * T);
  G.resize(T);
}

namespace {

template <class F, int H>
double sequence_loss_h(const MoonsModelConfig& cfg, const F* params, const F* seq, int T, Workspace<F>& ws, F* grad,
                       double grad_scale) {
  const F* Wphi = params + kPhi * kMatrixReals;
  const F* Wpsi = params + kPsi * kMatrixReals;
  const F* Wz = params + kZ * kMatrixReals;
  const F beta = static_cast<F>(cfg.beta), clip = static_cast<F>(cfg.clip);
  F *K = ws.K.data(), *V = ws.V.data(), *Y = ws.Y.data(), *inv_z = ws.inv_z.data();
  F tmp[6], q[6], y[6], iz[3];

  // ---- forward: keys and values (eq. 6); v_t peeks at x_{t+1}, the last one is 0 -----------
  for (int t = 0; t < T; ++t) {
    cmatvec(Wphi, seq + 6 * t, tmp);
    for (int c = 0; c < 6; ++c) K[c * T + t] = tmp[c];
    if (t + 1 < T) {
      cmatvec(Wpsi, seq + 6 * (t + 1), tmp);
    } else {
      for (int c = 0; c < 6; ++c) tmp[c] = 0;
    }
    for (int c = 0; c < 6; ++c) V[c * T + t] = tmp[c];
  }
  // ---- forward: memory read y_t over pairs j < t ------------------------------------------
  for (int t = 0; t < T; ++t) {
    for (int c = 0; c < 6; ++c) q[c] = K[c * T + t];
    attend_row<F, H>(q, K, V, T, t, beta, ws.P.data() + Workspace<F>::row_offset(t, H), y, iz);
    for (int c = 0; c < 6; ++c) Y[c * T + t] = y[c];
    for (int h = 0; h < H; ++h) inv_z[h * T + t] = iz[h];
  }
  // ---- forward: mixing, clipped loss; dO = d(loss)/d(o) * grad_scale ----------------------
  double loss = 0;
  double dWz[kMatrixReals] = {}, dWphi[kMatrixReals] = {}, dWpsi[kMatrixReals] = {};
  F* dY = ws.dY.data();
  for (int t = 0; t < T; ++t) {
    F o[6], dO[6], dy[6];
    for (int c = 0; c < 6; ++c) y[c] = Y[c * T + t];
    cmatvec(Wz, y, o);
    for (int c = 0; c < 6; ++c) {
      const F d = o[c] - seq[6 * (t + 1) + c];
      const F dc = d < -clip ? -clip : (d > clip ? clip : d);
      loss += static_cast<double>(dc) * dc;
      dO[c] = (d == dc) ? static_cast<F>(2.0 * grad_scale) * d : F(0);
    }
    if (!grad) continue;
    // ---- backward: mixing W_z (overwrites dY[:, t]) --------------------------------------
    couter_acc(dWz, dO, y);
    cmatvec_h(Wz, dO, dy);
    for (int c = 0; c < 6; ++c) dY[c * T + t] = dy[c];
  }
  if (!grad) return loss;

  // ---- backward: memory read, row by row (accumulates into zeroed dK, dV) ------------------
  F *dK = ws.dK.data(), *dV = ws.dV.data();
  ws.dK.zero();
  ws.dV.zero();
  for (int t = 1; t < T; ++t) {
    F dy[6], dq[6] = {};
    for (int c = 0; c < 6; ++c) {
      q[c] = K[c * T + t];
      y[c] = Y[c * T + t];
      dy[c] = dY[c * T + t];
    }
    for (int h = 0; h < H; ++h) iz[h] = inv_z[h * T + t];
    attend_row_backward<F, H>(q, K, V, T, t, beta, y, ws.P.data() + Workspace<F>::row_offset(t, H), iz, dy, dq, dK,
                              dV, ws.G.data());
    for (int c = 0; c < 6; ++c) dK[c * T + t] += dq[c];
  }
  // ---- backward: keys and values ---------------------------------------------------------
  for (int t = 0; t < T; ++t) {
    F dk[6], dv[6];
    for (int c = 0; c < 6; ++c) {
      dk[c] = dK[c * T + t];
      dv[c] = dV[c * T + t];
    }
    couter_acc(dWphi, dk, seq + 6 * t);
    if (t + 1 < T) couter_acc(dWpsi, dv, seq + 6 * (t + 1));
  }
  for (int i = 0; i < kMatrixReals; ++i) {
    grad[kPhi * kMatrixReals + i] += static_cast<F>(dWphi[i]);
    grad[kPsi * kMatrixReals + i] += static_cast<F>(dWpsi[i]);
    grad[kZ * kMatrixReals + i] += static_cast<F>(dWz[i]);
  }
  return loss;
}

}  // namespace

template <class F>
double sequence_loss(const MoonsModelConfig& cfg, const F* params, const F* seq, int T, Workspace<F>& ws, F* grad,
                     double grad_scale) {
  MOSAIC_CHECK(cfg.n_head == 1 || cfg.n_head == 3,
               "three moons: n_head must be 1 or 3, got " + std::to_string(cfg.n_head),
               "the paper compares a 1-head and a 3-head network");
  MOSAIC_CHECK(T >= 1, "three moons: empty sequence", "seq_len must be positive");
  ws.reserve(T, cfg.n_head);
  if (cfg.n_head == 1) return sequence_loss_h<F, 1>(cfg, params, seq, T, ws, grad, grad_scale);
  return sequence_loss_h<F, 3>(cfg, params, seq, T, ws, grad, grad_scale);
}

template void init_params<float>(Rng&, float*);
template void init_params<double>(Rng&, double*);
template struct Workspace<float>;
template struct Workspace<double>;
template double sequence_loss<float>(const MoonsModelConfig&, const float*, const float*, int, Workspace<float>&,
                                     float*, double);
template double sequence_loss<double>(const MoonsModelConfig&, const double*, const double*, int, Workspace<double>&,
                                      double*, double);

}  // namespace mosaic::three_moons
