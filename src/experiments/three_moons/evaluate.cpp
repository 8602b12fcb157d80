// Three-moons autoregressive evaluation: per sequence, the true keys and values are computed
// once; each context length then rolls G predictions forward in a working copy of the memory
// and restores it. Not the trainer. Shapes: L = seq_len observations per sequence, memories
// component-major (c * L + t), N sequences, G generated steps.
#include "experiments/three_moons/evaluate.hpp"

#include <algorithm>
#include <cmath>

#include "core/buffer.hpp"
#include "core/error.hpp"
#include "experiments/three_moons/kernels.hpp"

namespace mosaic::three_moons {

double EvalCurve::at(int T, bool use_median) const {
  for (size_t i = 0; i < ctx.size(); ++i)
    if (ctx[i] == T) return use_median ? median[i] : mean[i];
  throw Error("three moons: context length " + std::to_string(T) + " was not evaluated", "add it to the extra list");
}

std::vector<int> context_lengths(const MoonsData& data, const EvalConfig& ecfg, const std::vector<int>& extra) {
  const int max_T = data.config().seq_len - ecfg.gen_steps;
  MOSAIC_CHECK(max_T >= 1, "three moons: gen_steps leaves no room for a context", "use fewer --gen-steps");
  MOSAIC_CHECK(ecfg.ctx_stride >= 1, "three moons: ctx_stride must be positive", "use --eval-stride 1 or more");
  std::vector<int> out;
  for (int T = 1; T <= max_T; T += ecfg.ctx_stride) out.push_back(T);
  for (int T : extra)
    if (T >= 1 && T <= max_T) out.push_back(T);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

// Rolls G predictions from context length T. K, V are the working memory (pairs j < T-1 hold
// true data on entry; entries from T-1 on are overwritten and restored by the caller). Returns
// the summed |prediction - truth| over G steps and 6 reals.
template <int H>
double rollout(const float* params, float beta, const float* seq, int L, int T, int G, float* K, float* V,
               float* S) {
  const float* Wphi = params + kPhi * kMatrixReals;
  const float* Wpsi = params + kPsi * kMatrixReals;
  const float* Wz = params + kZ * kMatrixReals;
  float q[6], y[6], xhat[6], inv_z[3];
  for (int c = 0; c < 6; ++c) q[c] = K[c * L + T - 1];
  double err = 0;
  for (int i = 0; i < G; ++i) {
    const int n = T - 1 + i;  // the query sits at position n and reads pairs j < n
    attend_row<float, H>(q, K, V, L, n, beta, S, y, inv_z);
    cmatvec(Wz, y, xhat);  // prediction of x_{T+i}
    for (int c = 0; c < 6; ++c) err += std::fabs(xhat[c] - seq[6 * (T + i) + c]);
    if (i + 1 == G) break;
    float v[6];
    cmatvec(Wpsi, xhat, v);  // pair n is now complete: its value peeks at the fed-back x_{n+1}
    cmatvec(Wphi, xhat, q);  // the next query is the key of the fed-back observation
    for (int c = 0; c < 6; ++c) {
      V[c * L + n] = v[c];
      K[c * L + n + 1] = q[c];
    }
  }
  return err;
}

template <int H>
void evaluate_sequence(const float* params, float beta, const float* seq, int L, int G, const std::vector<int>& ctx,
                       Buffer<float>& Ktrue, Buffer<float>& Vtrue, Buffer<float>& K, Buffer<float>& V,
                       Buffer<float>& S, double* err, double* rep) {
  float tmp[6];
  for (int t = 0; t < L; ++t) {  // true keys k_t = W_phi x_t and values v_t = W_psi x_{t+1}
    cmatvec(params + kPhi * kMatrixReals, seq + 6 * t, tmp);
    for (int c = 0; c < 6; ++c) Ktrue[c * L + t] = tmp[c];
    cmatvec(params + kPsi * kMatrixReals, seq + 6 * (t + 1), tmp);
    for (int c = 0; c < 6; ++c) Vtrue[c * L + t] = tmp[c];
  }
  std::copy(Ktrue.data(), Ktrue.data() + 6 * L, K.data());
  std::copy(Vtrue.data(), Vtrue.data() + 6 * L, V.data());
  const double denom = 6.0 * G;
  for (size_t k = 0; k < ctx.size(); ++k) {
    const int T = ctx[k];
    err[k] = rollout<H>(params, beta, seq, L, T, G, K.data(), V.data(), S.data()) / denom;
    double r = 0;
    for (int i = 0; i < G; ++i)
      for (int c = 0; c < 6; ++c) r += std::fabs(seq[6 * (T - 1) + c] - seq[6 * (T + i) + c]);
    rep[k] = r / denom;
    for (int c = 0; c < 6; ++c)  // restore what the rollout overwrote
      for (int t = T - 1; t < T + G && t < L; ++t) {
        K[c * L + t] = Ktrue[c * L + t];
        V[c * L + t] = Vtrue[c * L + t];
      }
  }
}

double median_of(std::vector<double> v) {
  const size_t m = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + m, v.end());
  if (v.size() % 2) return v[m];
  const double hi = v[m];
  return 0.5 * (hi + *std::max_element(v.begin(), v.begin() + m));
}

}  // namespace

EvalCurve evaluate(const MoonsModelConfig& mcfg, const float* params, const MoonsData& data, const PeriodSet& set,
                   const EvalConfig& ecfg, const std::vector<int>& ctx, uint64_t seed,
                   const std::function<void(int, int)>& progress) {
  MOSAIC_CHECK(mcfg.n_head == 1 || mcfg.n_head == 3, "three moons: n_head must be 1 or 3", "");
  MOSAIC_CHECK(ecfg.n_seqs >= 1, "three moons: n_seqs must be positive", "use --eval-seqs 1 or more");
  const int L = data.config().seq_len, G = ecfg.gen_steps, N = ecfg.n_seqs;
  for (int T : ctx)
    MOSAIC_CHECK(T >= 1 && T + G <= L, "three moons: context length " + std::to_string(T) + " out of range",
                 "context + gen_steps must fit in seq_len");
  Rng rng = eval_stream(seed);
  std::vector<int64_t> starts(N);
  for (auto& s : starts) s = data.sample_start(rng);
  const size_t C = ctx.size();
  std::vector<double> err(C * N), rep(C * N);
  int done = 0;
#pragma omp parallel
  {
    const size_t M = 6 * static_cast<size_t>(L);  // one memory: 6 component rows of L
    Buffer<float> seq(M + 6), Kt(M), Vt(M), K(M), V(M), S(M / 2);  // S: H x L weights
    std::vector<double> e(C), r(C);
#pragma omp for schedule(dynamic, 1)
    for (int s = 0; s < N; ++s) {
      data.fill(set, starts[s], seq.data());
      if (mcfg.n_head == 1)
        evaluate_sequence<1>(params, float(mcfg.beta), seq.data(), L, G, ctx, Kt, Vt, K, V, S, e.data(), r.data());
      else
        evaluate_sequence<3>(params, float(mcfg.beta), seq.data(), L, G, ctx, Kt, Vt, K, V, S, e.data(), r.data());
      for (size_t k = 0; k < C; ++k) {
        err[k * N + s] = e[k];
        rep[k * N + s] = r[k];
      }
#pragma omp critical(three_moons_eval_progress)
      {
        ++done;
        if (progress) progress(done, N);
      }
    }
  }
  EvalCurve out;
  out.ctx = ctx;
  for (size_t k = 0; k < C; ++k) {
    std::vector<double> col(err.begin() + k * N, err.begin() + (k + 1) * N);
    double m = 0, mr = 0;
    for (int s = 0; s < N; ++s) {
      m += col[s];
      mr += rep[k * N + s];
    }
    out.mean.push_back(m / N);
    out.repeat_last.push_back(mr / N);
    out.median.push_back(median_of(std::move(col)));
  }
  return out;
}

}  // namespace mosaic::three_moons
