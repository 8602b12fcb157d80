// Causal self-attention: bookkeeping around kernels/attention.hpp, parallel over (batch, head);
// the stream's step over its KV cache.
#include "layers/causal_self_attention.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "kernels/attention.hpp"
#include "kernels/rope.hpp"

namespace mosaic {

template <class F>
void CausalSelfAttention<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  c_attn.register_params(table, prefix + "c_attn.");
  c_proj.register_params(table, prefix + "c_proj.");
}

template <class F>
void CausalSelfAttention<F>::plan(Activations<F>& acts, const std::string& prefix, int batch, int time) {
  const int64_t rows = static_cast<int64_t>(batch) * time;
  c_attn.plan(acts, prefix + "c_attn.", rows);
  c_proj.plan(acts, prefix + "c_proj.", rows);
  acts.add(prefix + "heads", {batch, time, C}, &heads);
  acts.add(prefix + "probs", {batch, H, time, time}, &probs);
  acts.add(prefix + "dqkv", {batch, time, 3 * C}, &dqkv);
  acts.add(prefix + "dheads", {batch, time, C}, &dheads);
  acts.add(prefix + "dprobs", {batch, H, time, time}, &dprobs);
  if (rope) acts.add(prefix + "qkv_rotated", {batch, time, 3 * C}, &qkv_rotated);
}

template <class F>
double CausalSelfAttention<F>::alibi_slope(int h) const {
  return alibi ? mosaic::alibi_slope(h, H) : 0.0;
}

template <class F>
void CausalSelfAttention<F>::encode_positions(F* qkv_rows, int rows, const int64_t* row_positions, bool inverse) const {
  if (!rope) return;
  rope_rows(qkv_rows, 3 * C, rows, H, C / H, row_positions, inverse);      // q
  rope_rows(qkv_rows + C, 3 * C, rows, H, C / H, row_positions, inverse);  // k
}

template <class F>
const F* CausalSelfAttention<F>::forward(const F* x, int batch, int time) {
  B = batch;
  T = time;
  const int hs = C / H;
  qkv = c_attn.forward(x, static_cast<int64_t>(B) * T);
  if (rope) {
    std::copy_n(qkv, static_cast<int64_t>(B) * T * 3 * C, qkv_rotated.data());
    positions.resize(T);
    for (int t = 0; t < T; ++t) positions[t] = t;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; ++b) encode_positions(qkv_rotated.data() + static_cast<int64_t>(b) * T * 3 * C, T, positions.data());
    qkv = qkv_rotated.data();
  }
  const F scale = score_scale();
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const F* q = qkv + static_cast<int64_t>(b) * T * 3 * C + h * hs;  // q | k | v blocks of C
      const int64_t tt = (static_cast<int64_t>(b) * H + h) * T * T;
      attention_forward(heads.data() + static_cast<int64_t>(b) * T * C + h * hs, C, probs.data() + tt, q, q + C,
                        q + 2 * C, 3 * C, T, hs, scale, kVisible,
                        {.alibi_slope = alibi_slope(h), .drop = &prob_drop, .slice = static_cast<uint64_t>(b) * H + h,
                         .dropped = dprobs.data() + tt});
    }
  return c_proj.forward(heads.data(), static_cast<int64_t>(B) * T);
}

template <class F>
void CausalSelfAttention<F>::backward(const F* dy, F* dx) {
  const int hs = C / H;
  dheads.zero();
  c_proj.backward(dy, dheads.data());
  dqkv.zero();
  const F scale = score_scale();
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const int64_t off = static_cast<int64_t>(b) * T * 3 * C + h * hs;
      const int64_t tt = (static_cast<int64_t>(b) * H + h) * T * T;
      F* d = dqkv.data() + off;
      attention_backward(d, d + C, d + 2 * C, dprobs.data() + tt, dheads.data() + static_cast<int64_t>(b) * T * C + h * hs,
                         C, probs.data() + tt, qkv + off, qkv + off + C, qkv + off + 2 * C, 3 * C, T, hs, scale,
                         kVisible, {.drop = &prob_drop, .slice = static_cast<uint64_t>(b) * H + h});
    }
  if (rope) {  // the gradients of the rotated q and k, rotated back
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; ++b) encode_positions(dqkv.data() + static_cast<int64_t>(b) * T * 3 * C, T, positions.data(), true);
  }
  c_attn.backward(dqkv.data(), dx);
}

template <class F>
typename CausalSelfAttention<F>::Stream CausalSelfAttention<F>::start_stream(const StreamSettings& settings) const {
  MOSAIC_CHECK(settings.window > 0, "a KV cache of " + std::to_string(settings.window) + " positions",
               "open the stream through the model, which sets its block_size");
  Stream s;
  s.window = settings.window;
  s.n_head = H;
  s.hs = C / H;
  s.k_cache.resize(static_cast<size_t>(settings.window) * C);
  s.v_cache.resize(s.k_cache.size());
  s.qkv.resize(static_cast<size_t>(settings.max_rows) * 3 * C);
  s.heads.resize(static_cast<size_t>(settings.max_rows) * C);
  s.scores.resize(settings.window);
  s.row_positions.resize(settings.max_rows);
  return s;
}

template <class F>
void CausalSelfAttention<F>::Stream::drop_oldest(int keep) {
  const int drop = size - keep;
  if (drop <= 0) return;
  const int64_t per_head = static_cast<int64_t>(window) * hs;
  for (auto* cache : {&k_cache, &v_cache})
    for (int h = 0; h < n_head; ++h) {
      F* c = cache->data() + h * per_head;
      std::copy(c + static_cast<int64_t>(drop) * hs, c + static_cast<int64_t>(size) * hs, c);
    }
  size = keep;
  first += drop;
}

// Row by row: row r is appended to the cache, then attends to entries 0 .. size - 1.
template <class F>
void CausalSelfAttention<F>::step(F* y, const F* x, StreamSlices<Stream> slices) const {
  static_assert(kVisible == Visible::UpToSelf, "position t attends to itself");
  const int hs = C / H, rows = total_rows(slices), count = static_cast<int>(slices.size());
  Stream& lead = *slices.front().stream;  // its scratch serves every slice
  c_attn.apply_step(lead.qkv.data(), x, rows, slices.size());
  std::vector<int> first_row(count);
  for (int i = 0, row = 0; i < count; row += slices[i++].rows) {
    first_row[i] = row;
    const Stream& s = *slices[i].stream;
    for (int r = 0; r < slices[i].rows; ++r) lead.row_positions[row + r] = s.first + s.size + r;
  }
  encode_positions(lead.qkv.data(), rows, lead.row_positions.data());
  const F scale = score_scale();
#pragma omp parallel for schedule(dynamic) if (count > 1)
  for (int i = 0; i < count; ++i) {
    Stream& s = *slices[i].stream;  // its own scores: the streams attend on the threads
    for (int r = first_row[i]; r < first_row[i] + slices[i].rows; ++r) {
      const int entry = s.size++;
      const F* row = lead.qkv.data() + static_cast<int64_t>(r) * 3 * C;  // q | k | v
      for (int h = 0; h < H; ++h) {
        F* kc = s.k_cache.data() + static_cast<int64_t>(h) * s.window * hs;
        F* vc = s.v_cache.data() + static_cast<int64_t>(h) * s.window * hs;
        std::copy_n(row + C + h * hs, hs, kc + static_cast<int64_t>(entry) * hs);
        std::copy_n(row + 2 * C + h * hs, hs, vc + static_cast<int64_t>(entry) * hs);
        attention_row(lead.heads.data() + static_cast<int64_t>(r) * C + h * hs, s.scores.data(), row + h * hs, kc, vc,
                      entry + 1, hs, scale, alibi_slope(h));
      }
    }
  }
  c_proj.apply_step(y, lead.heads.data(), rows, slices.size());
}

template struct CausalSelfAttention<float>;
template struct CausalSelfAttention<double>;

}  // namespace mosaic
