// Tied LM head + cross-entropy in row chunks. Two paths, the same function:
//  - float with C a multiple of 16 (every model we train): kernels/vocab_softmax.hpp makes,
//    per vocabulary slab, E = exp(logits - shift), the row sums, and E W for dx, in one pass;
//    the softmax's 1 / sum is applied afterwards (to dx, and to x before d wte = E^T x), and the
//    target's term g (p_t - 1), its exponential kept out of E, last. The shift is not the row's max
//    (which would need a pass over the logits first) but the largest of a few of its logits:
//    the target's and 32 sampled words'. Any shift within ~69 of the max keeps the sum in
//    float range; a row where that fails (the sum's check) is redone exactly with its max.
//  - otherwise (the float64 gradient tests): the logits gemm, the softmax loop of
//    kernels/softmax.hpp in place, and the gemms of both gradients.
// Either way the vocabulary is split into kSlabs fixed slabs, one single-threaded kernel or
// gemm per slab in a parallel loop: faster than OpenBLAS's own threading on these shapes
// (measured), and since the slabs do not depend on the thread count, neither does any sum.
#include "layers/tied_lm_head.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/error.hpp"
#include "kernels/gemm.hpp"
#include "kernels/softmax.hpp"
#include "kernels/vocab_softmax.hpp"

namespace mosaic {

namespace {

constexpr int kSlabs = 8;
constexpr int kShiftWords = 32;  // words spread over the vocabulary whose logits help set the shift

// Slabs of n items (vocabulary rows, or groups of 16 of them): kSlabs, or n when smaller.
int slab_count(int64_t n) { return static_cast<int>(std::min<int64_t>(kSlabs, n)); }

// fn(slab, first item, items) for each slab of n items, in parallel.
template <class Fn>
void for_each_slab(int64_t n, Fn&& fn) {
  const int slabs = slab_count(n);
#pragma omp parallel for schedule(static)
  for (int s = 0; s < slabs; ++s) {
    const int64_t first = n * s / slabs;
    fn(s, first, n * (s + 1) / slabs - first);
  }
}

// logits (rows, V) = x (rows, C) W^T, W (V, C): one gemm per slab of W.
template <class F>
void logits_gemm(F* logits, const F* x, const F* W, int rows, int V, int C) {
  for_each_slab(V, [&](int, int64_t v0, int64_t vn) {
    gemm<F>(Op::N, Op::T, rows, static_cast<int>(vn), C, F(1), x, C, W + v0 * C, C, F(0), logits + v0, V);
  });
}

// out (rows, C) = sum over slabs of parts[s] (rows, C, slab stride), in slab order.
template <class F>
void sum_slab_parts(F* out, const F* parts, int64_t slab_stride, int slabs, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    F sum = parts[i];
    for (int s = 1; s < slabs; ++s) sum += parts[s * slab_stride + i];
    out[i] = sum;
  }
}

}  // namespace

template <class F>
bool TiedLmHead<F>::uses_fused_kernel() const {
  return std::is_same_v<F, float> && options.fused && wte->C % 16 == 0;
}

// Rows per chunk: ~16M logits (64 MB in fp32), a multiple of 32 rows. Smaller chunks make
// thinner gemms (slower per flop, and more passes over dwte); larger ones only cost memory.
template <class F>
int64_t TiedLmHead<F>::chunk_rows(int64_t rows) const {
  if (options.rows_per_chunk > 0) return std::min(options.rows_per_chunk, rows);
  return std::min<int64_t>(rows, std::max<int64_t>(32, (int64_t{1} << 24) / wte->V / 32 * 32));
}

template <class F>
void TiedLmHead<F>::plan(Activations<F>& acts, const std::string& prefix, int64_t rows, int64_t logits_rows) {
  const int64_t V = wte->V, C = wte->C, R = chunk_rows(rows);
  acts.add(prefix + "logits", {std::max(R, logits_rows), V}, &logits);
  acts.add(prefix + "row_loss", {rows}, &row_loss);
  acts.add(prefix + "dx_from_forward", {rows, C}, &dx_from_forward);
  acts.add(prefix + "dwte_from_forward", {V, C}, &dwte_from_forward);
  acts.add(prefix + "dx_slabs", {kSlabs, R, C}, &dx_slabs);
  if (!uses_fused_kernel()) return;
  // W packed for the fused kernel, sized for the widest target's groups (any target fits).
  acts.add(prefix + "panels", {(V + kMaxVocabGroupWords - 1) / kMaxVocabGroupWords, C, kMaxVocabGroupWords}, &panels);
  acts.add(prefix + "shift_words", {kShiftWords, C}, &shift_words);
  acts.add(prefix + "shift_logits", {R, kShiftWords}, &shift_logits);
  for (auto [name, slot] : {std::pair{"target_logit", &target_logit}, {"target_e", &target_e},
                            {"target_coef", &target_coef}, {"row_shift", &row_shift}, {"row_factor", &row_factor}})
    acts.add(prefix + name, {R}, slot);
  acts.add(prefix + "slab_sums", {kSlabs, R}, &slab_sums);
}

template <class F>
const F* TiedLmHead<F>::logits_of(const F* x, int64_t rows) {
  ProfileScope timer(profile, "lm head (gemm)", false);
  N = rows;
  logits_kept = true;
  losses_kept = false;
  grads_ready = false;
  logits_gemm(logits.data(), x, wte->weight.value, static_cast<int>(N), wte->V, wte->C);
  return logits.data();
}

template <class F>
F TiedLmHead<F>::loss(const F* x, int64_t rows, const int32_t* targets, bool make_grads) {
  N = rows;
  logits_kept = false;
  losses_kept = true;
  grads_ready = false;
  rows_redone = 0;
  int64_t counted = 0;
  for (int64_t i = 0; i < N; ++i) counted += targets[i] >= 0;
  const F grad_scale = make_grads && counted ? F(1) / static_cast<F>(counted) : F(0);
  const int64_t R = chunk_rows(N);
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int rows_here = static_cast<int>(std::min(R, N - r0));
    if constexpr (std::is_same_v<F, float>) {
      if (uses_fused_kernel()) {
        fused_chunk(x + r0 * wte->C, targets + r0, rows_here, r0, R, grad_scale, make_grads);
        continue;
      }
    }
    generic_chunk(x + r0 * wte->C, targets + r0, rows_here, r0, R, grad_scale, make_grads);
  }
  grads_ready = make_grads;
  double sum = 0;
  for (int64_t i = 0; i < N; ++i) sum += row_loss[i];
  return counted ? static_cast<F>(sum / counted) : F(0);
}

template <class F>
void TiedLmHead<F>::generic_chunk(const F* xc, const int32_t* targets, int rows, int64_t r0, int64_t R, F grad_scale,
                                  bool make_grads) {
  const int V = wte->V, C = wte->C;
  const F* W = wte->weight.value;
  {
    ProfileScope timer(profile, "lm head (gemm)", false);
    logits_gemm(logits.data(), xc, W, rows, V, C);
  }
  {
    ProfileScope timer(profile, "cross-entropy", false);
    cross_entropy_rows(logits.data(), row_loss.data() + r0, targets, rows, V, grad_scale);
  }
  if (!make_grads) return;
  ProfileScope timer(profile, "lm head (gemm)", true);
  // dx = dlogits W: each slab's share of the sum apart, then added in slab order.
  // dwte = dlogits^T x: each slab owns its rows.
  F* parts = dx_slabs.data();
  for_each_slab(V, [&](int s, int64_t v0, int64_t vn) {
    const F* dz = logits.data() + v0;
    gemm<F>(Op::N, Op::N, rows, C, static_cast<int>(vn), F(1), dz, V, W + v0 * C, C, F(0), parts + s * R * C, C);
    gemm<F>(Op::T, Op::N, static_cast<int>(vn), C, rows, F(1), dz, V, xc, C, r0 ? F(1) : F(0),
            dwte_from_forward.data() + v0 * C, C);
  });
  sum_slab_parts(dx_from_forward.data() + r0 * C, parts, R * C, slab_count(V), static_cast<int64_t>(rows) * C);
}

template <class F>
void TiedLmHead<F>::fused_chunk(const F* xc, const int32_t* targets, int rows, int64_t r0, int64_t R, F grad_scale,
                                bool make_grads) {
  if constexpr (std::is_same_v<F, float>) {
    const int V = wte->V, C = wte->C;
    const float* W = wte->weight.value;
    const int64_t groups = vocab_groups(V);
    const int slabs = slab_count(groups);
    float* E = logits.data();
    float* parts = dx_slabs.data();
    {
      ProfileScope timer(profile, "lm head (gemm)", false);
      const int S = std::min(kShiftWords, V);
      if (r0 == 0) {  // W is the same for every chunk of this forward
        pack_vocab_panels(panels.data(), W, V, C);
        for (int j = 0; j < S; ++j) std::copy_n(W + static_cast<int64_t>(V) * j / S * C, C, shift_words.data() + j * C);
      }
      // Each row's shift: the largest of its target's logit and the sampled words' logits.
      gemm<float>(Op::N, Op::T, rows, S, C, 1.0f, xc, C, shift_words.data(), C, 0.0f, shift_logits.data(), S);
      for (int i = 0; i < rows; ++i) {
        float shift = lane_max(shift_logits.data() + static_cast<int64_t>(i) * S, S);
        if (targets[i] >= 0) {
          double zt = 0;
          for (int k = 0; k < C; ++k)
            zt += static_cast<double>(xc[i * C + k]) * W[static_cast<int64_t>(targets[i]) * C + k];
          target_logit[i] = static_cast<float>(zt);
          shift = std::max(shift, target_logit[i]);
        }
        row_shift[i] = shift;
      }
      for_each_slab(groups, [&](int s, int64_t g0, int64_t gn) {
        float* dx_part = make_grads ? parts + s * R * C : nullptr;
        if (dx_part) std::fill(dx_part, dx_part + static_cast<int64_t>(rows) * C, 0.0f);
        exp_logits_slab(E, slab_sums.data() + s * R, dx_part, xc, rows, C, panels.data(), W, V, g0, g0 + gn,
                        row_shift.data(), targets, target_e.data());
      });
    }
    {
      ProfileScope timer(profile, "cross-entropy", false);
      for (int i = 0; i < rows; ++i) {
        double sum = 0;
        for (int s = 0; s < slabs; ++s) sum += slab_sums[s * R + i];
        // The shift is one of the row's logits, so sum >= 1 unless the largest logit is over
        // 69 above it (or something is not finite): then the row is redone with its max. Ignored
        // rows too, as their exponentials meet a factor 0 in the gradient products.
        if (!(sum >= 0x1p-100 && sum <= 0x1p100))
          sum = redo_row_exactly(xc + static_cast<int64_t>(i) * C, targets[i], i, R, make_grads);
        if (targets[i] < 0) {
          row_loss[r0 + i] = row_factor[i] = 0.0f;
          continue;
        }
        row_factor[i] = static_cast<float>(grad_scale / sum);
        // The target's gradient coefficient g (p_t - 1) = -g (sum of the others) / sum.
        target_coef[i] = static_cast<float>(-grad_scale * (sum - target_e[i]) / sum);
        row_loss[r0 + i] = static_cast<float>(row_shift[i] + std::log(sum) - target_logit[i]);
      }
    }
    if (!make_grads) return;
    ProfileScope grad_timer(profile, "lm head (gemm)", true);
    // dx_i = (g / sum_i) (E W)_i + g (p_t - 1) w_t, E without the target; the factor is 0 for
    // ignored rows.
    float* dxc = dx_from_forward.data() + r0 * C;
    sum_slab_parts(dxc, parts, R * C, slabs, static_cast<int64_t>(rows) * C);
    // The slab parts are consumed: slab 0's holds x scaled by the factors (transposed for our
    // AVX-512 kernel, as it is for OpenBLAS's gemm).
    float* xs = parts;
    const bool own_kernel = simd_target() == SimdTarget::avx512;
    for (int i = 0; i < rows; ++i) {
      const int32_t t = targets[i];
      const float f = row_factor[i];
      for (int k = 0; k < C; ++k) {
        dxc[i * C + k] = f * dxc[i * C + k] + (t < 0 ? 0.0f : target_coef[i] * W[static_cast<int64_t>(t) * C + k]);
        xs[own_kernel ? static_cast<int64_t>(k) * rows + i : i * C + k] = f * xc[i * C + k];
      }
    }
    // dwte_v = sum_i (g / sum_i) E_iv x_i + the target terms g (p_t - 1) x_i.
    const int64_t group_words = vocab_group_words();
    for_each_slab(groups, [&](int, int64_t g0, int64_t gn) {
      const int64_t v0 = g0 * group_words, vn = std::min<int64_t>((g0 + gn) * group_words, V) - v0;
      float* dw = dwte_from_forward.data() + v0 * C;
      if (own_kernel)
        accumulate_dwte_avx512(dw, C, xs, E + v0, V, rows, static_cast<int>(vn), r0 != 0);
      else
        gemm<float>(Op::T, Op::N, static_cast<int>(vn), C, rows, 1.0f, E + v0, V, xs, C, r0 ? 1.0f : 0.0f, dw, C);
    });
    for (int i = 0; i < rows; ++i) {
      if (targets[i] < 0) continue;
      float* dw = dwte_from_forward.data() + static_cast<int64_t>(targets[i]) * C;
      for (int k = 0; k < C; ++k) dw[k] += target_coef[i] * xc[i * C + k];
    }
  }
}

// Row i of the chunk (target t) with its true max as the shift: its logits, exponentials and
// sum, the target's exponential apart, and (for a gradient) its E W in slab 0's part, the other
// slabs' parts zeroed. Returns the sum.
template <class F>
double TiedLmHead<F>::redo_row_exactly(const F* x_row, int32_t t, int i, int64_t R, bool make_grads) {
  const int V = wte->V, C = wte->C;
  const F* W = wte->weight.value;
  F* z = logits.data() + static_cast<int64_t>(i) * V;
  gemm<F>(Op::N, Op::T, 1, V, C, F(1), x_row, C, W, C, F(0), z, V);
  ++rows_redone;
  const F mx = lane_max(z, V);
  const double sum = exp_shifted_sum(z, z, V, mx);
  row_shift[i] = mx;
  if (t >= 0) {  // as the kernel does: the target's exponential apart, 0 in E
    target_e[i] = z[t];
    z[t] = F(0);
  }
  if (make_grads) {
    for (int s = 1; s < kSlabs; ++s) std::fill_n(dx_slabs.data() + s * R * C + static_cast<int64_t>(i) * C, C, F(0));
    gemm<F>(Op::N, Op::N, 1, C, V, F(1), z, V, W, C, F(0), dx_slabs.data() + static_cast<int64_t>(i) * C, C);
  }
  return sum;
}

template <class F>
void TiedLmHead<F>::add_grads(F loss_scale, F* dx) {
  MOSAIC_CHECK(grads_ready, "backward without a preceding training forward",
               "call forward with targets (not evaluate, not without targets) before backward, once per backward");
  grads_ready = false;
  ProfileScope timer(profile, "lm head (gemm)", true);
  const int C = wte->C;
  const int64_t n = N * C, vc = static_cast<int64_t>(wte->V) * C;
  const F* dxu = dx_from_forward.data();
  const F* dwu = dwte_from_forward.data();
  F* dw = wte->weight.grad;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < vc; ++i) dw[i] += loss_scale * dwu[i];
  for (int64_t i = 0; i < n; ++i) dx[i] += loss_scale * dxu[i];
}

template struct TiedLmHead<float>;
template struct TiedLmHead<double>;

}  // namespace mosaic
