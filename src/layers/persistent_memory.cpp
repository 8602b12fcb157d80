// Persistent memory. Per (block of kRows rows, head) task, in parallel: scores product,
// softmax, read-out product (kernels/small_gemm.hpp), each block's (kRows, P) scores still in
// cache for the next step. The slot gradients (P_k, P_v) sum over all rows: each of kGroups
// fixed row groups sums its own part, and the parts are added in group order, so every sum's
// order is independent of the thread count.
#include "layers/persistent_memory.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/gemm.hpp"
#include "kernels/matvec.hpp"
#include "kernels/memory_features.hpp"
#include "kernels/small_gemm.hpp"
#include "kernels/softmax.hpp"
#include "layers/exp_scaling.hpp"

namespace mosaic {

constexpr int kRows = 64;              // rows per task: a (64, P) block of scores stays in L2
constexpr int kGroups = 8;             // backward: row groups whose slot-gradient sums are kept apart

template <class F>
void PersistentMemory<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  const int hs = C / H;
  table.add(prefix + "P_k", {count, 1, H, P, hs}, &P_k);
  table.add(prefix + "P_v", {count, 1, H, P, hs}, &P_v);
  table.add(prefix + "out_scale", {1, H, 1, 1}, &out_scale);
  k_featurizer.register_params(table, prefix + "k_featurizer.");
  c_proj.register_params(table, prefix + "c_proj.");
}

template <class F>
void PersistentMemory<F>::plan(Activations<F>& acts, const std::string& prefix, int batch, int time) {
  const int64_t rows = static_cast<int64_t>(batch) * time, blocks = (rows + kRows - 1) / kRows;
  const int hs = C / H;
  k_featurizer.plan(acts, prefix + "k_featurizer.", batch, time);
  c_proj.plan(acts, prefix + "c_proj.", rows);
  acts.add(prefix + "probs", {count, H, rows, P}, &probs);
  for (auto [name, slot] : {std::pair{"retrieved", &retrieved}, {"dretrieved", &dretrieved}, {"dk", &dk}})
    acts.add(prefix + name, {rows, C}, slot);
  acts.add(prefix + "scale", {H}, &scale);
  acts.add(prefix + "dprobs", {omp_get_max_threads(), (prob_drop.p > 0 ? 2 : 1) * kRows * P + hs * kRows}, &dprobs);
  acts.add(prefix + "partial", {std::min<int64_t>(kGroups, blocks), count, H, 2, P * hs}, &partial);
  acts.add(prefix + "slots_t", {count, H, hs, P}, &slots_t);
}

template <class F>
void PersistentMemory<F>::transpose_slots(F* dst, const F* slots) const {
  const int hs = C / H;
  for (int s = 0; s < count * H; ++s)
    pack_transposed(dst + static_cast<int64_t>(s) * P * hs, slots + static_cast<int64_t>(s) * P * hs, P, hs, hs);
}

template <class F>
void PersistentMemory<F>::head_scales(F* scale_out) const {
  for (int h = 0; h < H; ++h) scale_out[h] = static_cast<F>(std::exp(kExpScaling * out_scale.value[h]) / count);
}

template <class F>
void PersistentMemory<F>::read_head(F* z, int ldz, F* scores, int64_t bank_stride, const F* keys, int ldk, int rows,
                                    int h, const F* slots_transposed, F scale_h, F* dropped, int64_t row0) const {
  const int hs = C / H;
  const bool dropping = dropped && prob_drop.active();
  for (int i = 0; i < count; ++i) {
    const int64_t slot = (static_cast<int64_t>(i) * H + h) * P * hs;
    F* a = scores + i * bank_stride;
    if constexpr (std::is_same_v<F, float>) {
      if (rows == 1 && !dropping) {  // a streamed token: row loops (a one-row tile wastes most of its lanes)
        matvec(a, P_k.value + slot, keys, nullptr, P, hs);
        softmax_prefix(a, P, P);
        if (i == 0) std::fill(z, z + hs, F(0));
        add_weighted_rows(z, P_v.value + slot, a, P, hs);
        continue;
      }
    }
    small_gemm<F>(rows, P, hs, F(1), keys, ldk, slots_transposed + slot, P, false, a, P);
    for (int r = 0; r < rows; ++r) softmax_prefix(a + static_cast<int64_t>(r) * P, P, P);
    if (dropping) prob_drop.apply(dropped, P, a, P, rows, P, static_cast<uint64_t>(i) * H + h, row0);
    small_gemm<F>(rows, hs, P, F(1), dropping ? dropped : a, P, P_v.value + slot, hs, i > 0, z, ldz);
  }
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < hs; ++c) z[static_cast<int64_t>(r) * ldz + c] *= scale_h;
}

template <class F>
const F* PersistentMemory<F>::forward(const F* x, int batch, int time) {
  N = static_cast<int64_t>(batch) * time;
  const int hs = C / H;
  k = k_featurizer.forward(x, batch, time);
  head_scales(scale.data());
  transpose_slots(slots_t.data(), P_k.value);
  const int64_t blocks = (N + kRows - 1) / kRows;
  const int64_t per_thread = dprobs.size() / omp_get_max_threads();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int h = 0; h < H; ++h) {
      const int64_t r0 = blk * kRows;
      const int rows = static_cast<int>(std::min<int64_t>(kRows, N - r0));
      read_head(retrieved.data() + r0 * C + h * hs, C, probs.data() + (static_cast<int64_t>(h) * N + r0) * P,
                static_cast<int64_t>(H) * N * P, k + r0 * C + h * hs, C, rows, h, slots_t.data(), scale[h],
                dprobs.data() + omp_get_thread_num() * per_thread, r0);
    }
  return c_proj.forward(retrieved.data(), N);
}

template <class F>
void PersistentMemory<F>::backward(const F* dy, F* dx) {
  const int hs = C / H;
  dretrieved.zero();
  c_proj.backward(dy, dretrieved.data());
  // y = z * scale_h: d out_scale_h = 10 * sum(dy . y); then dz = dy * scale_h, in place.
  {
    F* column = channel_sums<F>(C);  // per-column sums first: the row loop vectorises over columns
    for (int64_t r = 0; r < N; ++r)
      for (int c = 0; c < C; ++c) column[c] += dretrieved[r * C + c] * retrieved[r * C + c];
    for (int c = 0; c < C; ++c) out_scale.grad[c / hs] += static_cast<F>(kExpScaling) * column[c];
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < N; ++r)
    for (int c = 0; c < C; ++c) dretrieved[r * C + c] *= scale[c / hs];
  transpose_slots(slots_t.data(), P_v.value);
  const int64_t blocks = (N + kRows - 1) / kRows;
  const int groups = static_cast<int>(std::min<int64_t>(kGroups, blocks));
  const int64_t slot_size = static_cast<int64_t>(P) * hs, per_thread = dprobs.size() / omp_get_max_threads();
  const bool dropping = prob_drop.active();
  // partial: [g][bank, h][v | k] (hs, P); every entry is written before it is read
#pragma omp parallel for collapse(2) schedule(static)
  for (int g = 0; g < groups; ++g)
    for (int h = 0; h < H; ++h) {
      F* da = dprobs.data() + omp_get_thread_num() * per_thread;  // (kRows, P)
      F* t = da + static_cast<int64_t>(kRows) * P;                // a (rows, hs) block transposed
      F* dropped = t + static_cast<int64_t>(hs) * kRows;          // (kRows, P) with dropout
      const int64_t first = g * blocks / groups, last = (g + 1) * blocks / groups;
      for (int64_t blk = first; blk < last; ++blk) {
        const int64_t r0 = blk * kRows;
        const int rows = static_cast<int>(std::min<int64_t>(kRows, N - r0));
        const F* dz = dretrieved.data() + r0 * C + h * hs;
        for (int i = 0; i < count; ++i) {
          const int64_t slot = (static_cast<int64_t>(i) * H + h) * slot_size;
          const F* a = probs.data() + ((static_cast<int64_t>(i) * H + h) * N + r0) * P;
          F* dpv = partial.data() + ((static_cast<int64_t>(g) * count * H + i * H + h) * 2) * slot_size;
          F* dpk = dpv + slot_size;
          const uint64_t slice = static_cast<uint64_t>(i) * H + h;
          if (dropping) prob_drop.apply(dropped, P, a, P, rows, P, slice, r0);  // the forward's weights, again
          pack_transposed(t, dz, rows, hs, C);  // dP_v^T += dz^T A
          small_gemm<F>(hs, P, rows, F(1), t, rows, dropping ? dropped : a, P, blk > first, dpv, P);
          small_gemm<F>(rows, P, hs, F(1), dz, C, slots_t.data() + slot, P, false, da, P);  // dA = dz P_v^T
          if (dropping) prob_drop.apply(da, P, da, P, rows, P, slice, r0);
          for (int r = 0; r < rows; ++r)  // dS, in place
            softmax_prefix_backward(da + static_cast<int64_t>(r) * P, a + static_cast<int64_t>(r) * P, P, P);
          small_gemm<F>(rows, hs, P, F(1), da, P, P_k.value + slot, hs, i > 0, dk.data() + r0 * C + h * hs, C);
          pack_transposed(t, k + r0 * C + h * hs, rows, hs, C);  // dP_k^T += k^T dS
          small_gemm<F>(hs, P, rows, F(1), t, rows, da, P, blk > first, dpk, P);
        }
      }
    }
  // The groups' partial sums, in group order (the same for every thread count), transposed back.
  for (int s = 0; s < count * H; ++s)
    for (int which = 0; which < 2; ++which) {
      F* grad = (which ? P_k.grad : P_v.grad) + s * slot_size;
      for (int c = 0; c < hs; ++c)
        for (int p = 0; p < P; ++p) {
          F sum = 0;
          for (int g = 0; g < groups; ++g) sum += partial[((static_cast<int64_t>(g) * count * H + s) * 2 + which) * slot_size + c * P + p];
          grad[static_cast<int64_t>(p) * hs + c] += sum;
        }
    }
  k_featurizer.backward(dk.data(), dx);
}

template <class F>
typename PersistentMemory<F>::Stream PersistentMemory<F>::start_stream(int max_rows) const {
  const int hs = C / H;
  Stream s;
  s.keys = k_featurizer.start_stream(max_rows);
  s.scale.resize(H);
  head_scales(s.scale.data());
  s.slots_t.resize(static_cast<size_t>(count) * H * hs * P);
  transpose_slots(s.slots_t.data(), P_k.value);
  s.k.resize(static_cast<size_t>(max_rows) * C);
  s.z.resize(static_cast<size_t>(max_rows) * C);
  return s;
}

template <class F>
void PersistentMemory<F>::step(F* y, const F* x, StreamSlices<Stream> slices) const {
  const int hs = C / H, rows = total_rows(slices);
  Stream& lead = *slices.front().stream;  // its scratch and transposed slots serve every slice
  k_featurizer.step(lead.k.data(), x, slices_of(slices, [](Stream& s) -> auto& { return s.keys; }));
  // One stream's rows together, several streams' a row at a time (a row's read is the same
  // whatever rows step beside it); heads and rows on the threads, each with its own scores.
  const int block = slices.size() == 1 ? rows : 1, tasks = rows / block * H;
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int task = 0; task < tasks; ++task) {
    const int r = task / H * block, h = task % H;
    thread_local std::vector<F> scores;  // (count, block, P)
    scores.resize(static_cast<size_t>(count) * block * P);
    read_head(lead.z.data() + static_cast<int64_t>(r) * C + h * hs, C, scores.data(), static_cast<int64_t>(block) * P,
              lead.k.data() + static_cast<int64_t>(r) * C + h * hs, C, block, h, lead.slots_t.data(), lead.scale[h]);
  }
  c_proj.apply_step(y, lead.z.data(), rows, slices.size());
}

template struct PersistentMemory<float>;
template struct PersistentMemory<double>;

}  // namespace mosaic
