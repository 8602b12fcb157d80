// Value extractor: Linear, look-ahead mix, normalise-and-scale, parallel over sequences.
#include "layers/value_extractor.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "kernels/memory_features.hpp"
#include "layers/exp_scaling.hpp"

namespace mosaic {

namespace {
constexpr double kAbsScaleMax = 15;  // Memory Mosaics v2's clamp of the value scale's exponent
}  // namespace

// d log(scale) / d val_scale: 10, or sign(p) below the clamp (sign(0) = 0, as torch.abs: a
// scale started at exactly 0, as the paper does, keeps a zero gradient).
template <class F>
double ValueExtractor<F>::log_scale_slope(F p) const {
  if (!abs_scale) return kExpScaling;
  if (std::abs(static_cast<double>(p)) >= kAbsScaleMax) return 0;
  return p > 0 ? 1.0 : (p < 0 ? -1.0 : 0.0);
}

template <class F>
void ValueExtractor<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  table.add(prefix + "coef", {1, H, 1, 1}, &coef);
  table.add(prefix + "val_scale", {1, H, 1, 1}, &val_scale);
  W_v.register_params(table, prefix + "W_v.");
}

template <class F>
void ValueExtractor<F>::plan(Activations<F>& acts, const std::string& prefix, int batch, int time) {
  W_v.plan(acts, prefix + "W_v.", static_cast<int64_t>(batch) * time);
  for (auto [name, slot] : {std::pair{"vbar", &vbar}, {"v", &v}, {"dvbar", &dvbar}, {"dvt", &dvt}})
    acts.add(prefix + name, {batch, time, C}, slot);
  acts.add(prefix + "norm", {batch, time, H}, &norm);
  acts.add(prefix + "scale", {H}, &scale);
  acts.add(prefix + "partial", {2, batch, H}, &partial);
}

template <class F>
void ValueExtractor<F>::head_scales(F* scale_out) const {
  for (int h = 0; h < H; ++h)
    scale_out[h] = static_cast<F>(abs_scale ? std::exp(std::min(std::abs(static_cast<double>(val_scale.value[h])), kAbsScaleMax))
                                            : std::exp(kExpScaling * val_scale.value[h]));
}

template <class F>
const F* ValueExtractor<F>::forward(const F* x, int batch, int time) {
  B = batch;
  T = time;
  const int hs = C / H;
  vt = W_v.forward(x, static_cast<int64_t>(B) * T);
  head_scales(scale.data());
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; ++b) {
    const int64_t off = static_cast<int64_t>(b) * T * C;
    lookahead_forward(vbar.data() + off, vt + off, coef.value, T, C, hs);
    normalize_scale_forward(v.data() + off, norm.data() + static_cast<int64_t>(b) * T * H, vbar.data() + off,
                            scale.data(), T, C, hs);
  }
  return v.data();
}

template <class F>
void ValueExtractor<F>::backward(const F* dv, F* dx) {
  const int hs = C / H;
  dvbar.zero();
  dvt.zero();
  partial.zero();  // [dlogscale | dcoef] per (b, h)
  F* dlogscale = partial.data();
  F* dcoef = partial.data() + static_cast<int64_t>(B) * H;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; ++b) {
    const int64_t off = static_cast<int64_t>(b) * T * C;
    normalize_scale_backward(dvbar.data() + off, dlogscale + b * H, dv + off, v.data() + off, vbar.data() + off,
                             norm.data() + static_cast<int64_t>(b) * T * H, scale.data(), T, C, hs);
    lookahead_backward(dvt.data() + off, dcoef + b * H, dvbar.data() + off, vt + off, coef.value, T, C, hs);
  }
  for (int h = 0; h < H; ++h)
    for (int b = 0; b < B; ++b) {
      val_scale.grad[h] += static_cast<F>(log_scale_slope(val_scale.value[h]) * dlogscale[b * H + h]);
      coef.grad[h] += dcoef[b * H + h];
    }
  W_v.backward(dvt.data(), dx);
}

template <class F>
typename ValueExtractor<F>::Stream ValueExtractor<F>::start_stream(int max_rows) const {
  Stream s;
  s.scale.resize(H);
  head_scales(s.scale.data());
  s.last.assign(C, F(0));
  s.vt.resize(static_cast<size_t>(max_rows) * C);
  s.window.resize(static_cast<size_t>(max_rows + 1) * C);
  s.vbar.resize(s.window.size());
  s.norm.resize(static_cast<size_t>(max_rows) * H);
  return s;
}

template <class F>
void ValueExtractor<F>::step(F* v_out, const F* x, StreamSlices<Stream> slices) const {
  const int hs = C / H, rows = total_rows(slices);
  Stream& lead = *slices.front().stream;  // its scratch serves every slice
  W_v.apply_step(lead.vt.data(), x, rows, slices.size());
  int64_t row = 0;
  for (const auto& [s, n] : slices) {
    // The look-ahead over [last; new rows]: its first n outputs are the completed values (the
    // last output, which needs a row not yet seen, lands on the next slice's first row and is
    // overwritten there, or in vbar's spare row).
    std::copy_n(s->last.data(), C, lead.window.data());
    std::copy_n(lead.vt.data() + row * C, static_cast<int64_t>(n) * C, lead.window.data() + C);
    lookahead_forward(lead.vbar.data() + row * C, lead.window.data(), coef.value, n + 1, C, hs);
    std::copy_n(lead.window.data() + static_cast<int64_t>(n) * C, C, s->last.data());
    s->has_last = true;
    row += n;
  }
  normalize_scale_forward(v_out, lead.norm.data(), lead.vbar.data(), lead.scale.data(), rows, C, hs);
}

template <class F>
void ValueExtractor<F>::save_stream(const Stream& s, StreamState& out, const std::string& prefix) const {
  out.put(prefix + "last", {C}, s.last.data());
  out.put_scalar(prefix + "has_last", int64_t{s.has_last});
}

template <class F>
void ValueExtractor<F>::load_stream(Stream& s, const StreamState& in, const std::string& prefix) const {
  const auto last = in.take<F>(prefix + "last", {C});
  const int64_t has_last = in.scalar<int64_t>(prefix + "has_last");
  MOSAIC_CHECK(has_last == 0 || has_last == 1, "memory " + prefix + "has_last is " + std::to_string(has_last) + ", not 0 or 1",
               "the memory file is damaged; write it again with --save-memory");
  s.last = last;
  s.has_last = has_last == 1;
}

template struct ValueExtractor<float>;
template struct ValueExtractor<double>;

}  // namespace mosaic
