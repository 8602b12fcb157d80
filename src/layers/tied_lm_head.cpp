// Tied LM head + cross-entropy in row chunks: per chunk, the logits gemm, the softmax loop of
// kernels/softmax.hpp in place, and the gemms of both gradients. The three gemms are split
// into kSlabs fixed slabs of the vocabulary, one single-threaded gemm per slab in a parallel
// loop: ~10% faster than OpenBLAS's own threading on these shapes (measured), and since the
// slabs do not depend on the thread count, neither does any sum.
#include "layers/tied_lm_head.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "kernels/gemm.hpp"
#include "kernels/softmax.hpp"

namespace mosaic {

namespace {

// Rows per chunk: ~16M logits (64 MB in fp32), a multiple of 32 rows. Smaller chunks make
// thinner gemms (slower per flop, and more passes over dwte); larger ones only cost memory.
int64_t chunk_rows(int64_t N, int V) { return std::min<int64_t>(N, std::max<int64_t>(32, (int64_t{1} << 24) / V / 32 * 32)); }

constexpr int kSlabs = 8;

// Slabs of a vocabulary of V rows: kSlabs, or V when smaller (no slab is empty).
int slab_count(int V) { return std::min(kSlabs, V); }

// fn(slab, first vocabulary row, rows) for each slab, in parallel.
template <class Fn>
void for_each_slab(int V, Fn&& fn) {
  const int slabs = slab_count(V);
#pragma omp parallel for schedule(static)
  for (int s = 0; s < slabs; ++s) {
    const int v0 = static_cast<int>(static_cast<int64_t>(V) * s / slabs);
    fn(s, v0, static_cast<int>(static_cast<int64_t>(V) * (s + 1) / slabs) - v0);
  }
}

// logits (rows, V) = x (rows, C) W^T, W (V, C): one gemm per slab of W.
template <class F>
void logits_gemm(F* logits, const F* x, const F* W, int rows, int V, int C) {
  for_each_slab(V, [&](int, int v0, int vn) {
    gemm<F>(Op::N, Op::T, rows, vn, C, F(1), x, C, W + static_cast<int64_t>(v0) * C, C, F(0), logits + v0, V);
  });
}

}  // namespace

template <class F>
F TiedLmHead<F>::forward(const F* x, int64_t rows, const int32_t* targets, bool want_grad) {
  N = rows;
  const int V = wte->V, C = wte->C;
  const F* W = wte->weight.value;
  logits_kept = !targets;
  grads_ready = false;
  if (!targets) {
    ProfileScope timer(profile, "lm head (gemm)", false);
    logits.resize_for_overwrite(N * V);
    logits_gemm(logits.data(), x, W, static_cast<int>(N), V, C);
    return F(0);
  }
  int64_t counted = 0;
  for (int64_t i = 0; i < N; ++i) counted += targets[i] >= 0;
  const F grad_scale = want_grad && counted ? F(1) / static_cast<F>(counted) : F(0);
  const int64_t R = rows_per_chunk > 0 ? std::min(rows_per_chunk, N) : chunk_rows(N, V);
  logits.resize_for_overwrite(R * V);
  row_loss.resize_for_overwrite(N);
  if (want_grad) {
    dx_unscaled.resize_for_overwrite(N * C);
    dwte_unscaled.resize_for_overwrite(static_cast<size_t>(V) * C);
    dx_slabs.resize_for_overwrite(static_cast<size_t>(kSlabs) * R * C);
  }
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int rows_here = static_cast<int>(std::min(R, N - r0));
    const F* xc = x + r0 * C;
    {
      ProfileScope timer(profile, "lm head (gemm)", false);
      logits_gemm(logits.data(), xc, W, rows_here, V, C);
    }
    {
      ProfileScope timer(profile, "cross-entropy", false);
      cross_entropy_rows(logits.data(), row_loss.data() + r0, targets + r0, rows_here, V, grad_scale);
    }
    if (!want_grad) continue;
    ProfileScope timer(profile, "lm head (gemm)", true);
    // dx = dlogits W: each slab's share of the sum apart, then added in slab order.
    // dwte = dlogits^T x: each slab owns its rows.
    F* parts = dx_slabs.data();
    for_each_slab(V, [&](int s, int v0, int vn) {
      const F* dz = logits.data() + v0;
      gemm<F>(Op::N, Op::N, rows_here, C, vn, F(1), dz, V, W + static_cast<int64_t>(v0) * C, C, F(0),
              parts + static_cast<int64_t>(s) * R * C, C);
      gemm<F>(Op::T, Op::N, vn, C, rows_here, F(1), dz, V, xc, C, r0 ? F(1) : F(0),
              dwte_unscaled.data() + static_cast<int64_t>(v0) * C, C);
    });
    F* dxc = dx_unscaled.data() + r0 * C;
    const int64_t n = static_cast<int64_t>(rows_here) * C;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      F sum = parts[i];
      for (int s = 1; s < slab_count(V); ++s) sum += parts[s * R * C + i];
      dxc[i] = sum;
    }
  }
  grads_ready = want_grad;
  double sum = 0;
  for (int64_t i = 0; i < N; ++i) sum += row_loss[i];
  return counted ? static_cast<F>(sum / counted) : F(0);
}

template <class F>
void TiedLmHead<F>::backward(F loss_scale, F* dx) {
  MOSAIC_CHECK(grads_ready, "backward without a preceding training forward",
               "call forward with targets (not evaluate, not without targets) before backward, once per backward");
  grads_ready = false;
  ProfileScope timer(profile, "lm head (gemm)", true);
  const int C = wte->C;
  const int64_t n = N * C, vc = static_cast<int64_t>(wte->V) * C;
  const F* dxu = dx_unscaled.data();
  const F* dwu = dwte_unscaled.data();
  F* dw = wte->weight.grad;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < vc; ++i) dw[i] += loss_scale * dwu[i];
  for (int64_t i = 0; i < n; ++i) dx[i] += loss_scale * dxu[i];
}

template struct TiedLmHead<float>;
template struct TiedLmHead<double>;

}  // namespace mosaic
