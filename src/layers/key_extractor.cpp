// Key extractor: Linear, leaky-average scan (fixed per head, or gated per step), normalise-and-
// scale (kernels/memory_features.hpp), parallel over sequences. Per-head grads are reduced per
// sequence, then summed in order.
#include "layers/key_extractor.hpp"

#include <cmath>

#include "kernels/memory_features.hpp"
#include "layers/exp_scaling.hpp"

namespace mosaic {

const double kKeyScaleMax = std::log(65535.0);  // exp(key scale) must fit in fp16 (reference)

template <class F>
KeyExtractor<F>::KeyExtractor(int n_embd, int n_head, bool bias, const KeyOptions& o)
    : C(n_embd), H(n_head), scale_power(o.scale_power),
      scale_cap(o.kernel_beta_upbound > 0 ? o.scale_power * o.kernel_beta_upbound : kKeyScaleMax), scaled(o.scaled),
      gated(o.gated), fixed_decay(o.gated ? -1 : o.fixed_decay), W_k(n_embd, n_embd, bias), W_g(n_embd, n_head, false), W_lambda(n_embd, n_head, false) {}

template <class F>
void KeyExtractor<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  if (scaled) table.add(prefix + "key_scale", {1, H, 1, 1}, &key_scale);
  W_k.register_params(table, prefix + "W_k.");
  if (gated) {
    W_g.register_params(table, prefix + "W_g.");
    W_lambda.register_params(table, prefix + "W_lambda.");
  } else if (fixed_decay < 0) {
    table.add(prefix + "leaky_avg.leaky_key_beta", {1, H, 1, 1}, &leaky_key_beta);
  }
}

template <class F>
void KeyExtractor<F>::plan(Activations<F>& acts, const std::string& prefix, int batch, int time) {
  const int64_t rows = static_cast<int64_t>(batch) * time;
  W_k.plan(acts, prefix + "W_k.", rows);
  for (auto [name, slot] : {std::pair{"kbar", &kbar}, {"k", &k}, {"dkbar", &dkbar}, {"dkt", &dkt}, {"scan", &scan}})
    acts.add(prefix + name, {batch, time, C}, slot);
  acts.add(prefix + "norm", {batch, time, H}, &norm);
  acts.add(prefix + "decay", {H}, &decay);
  acts.add(prefix + "scale", {H}, &scale);
  acts.add(prefix + "partial", {2, batch, H}, &partial);
  if (!gated) return;
  W_g.plan(acts, prefix + "W_g.", rows);
  W_lambda.plan(acts, prefix + "W_lambda.", rows);
  for (auto [name, slot] : {std::pair{"gate", &gate}, {"step_decay", &step_decay}, {"dgate", &dgate}, {"ddecay", &ddecay}})
    acts.add(prefix + name, {batch, time, H}, slot);
}

template <class F>
void KeyExtractor<F>::head_coefficients(F* decay_out, F* scale_out) const {
  for (int h = 0; h < H; ++h) {
    decay_out[h] = gated              ? F(0)
                   : fixed_decay >= 0 ? static_cast<F>(fixed_decay)
                                      : static_cast<F>(std::exp(-kExpScaling * std::abs(static_cast<double>(leaky_key_beta.value[h]))));
    scale_out[h] = scaled ? static_cast<F>(std::exp(std::min(scale_power * kExpScaling * key_scale.value[h], scale_cap))) : F(1);
  }
}

template <class F>
void KeyExtractor<F>::gate_values(F* gate_out, F* decay_out, const F* gate_in, const F* decay_in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    gate_out[i] = std::exp(gate_in[i]);
    decay_out[i] = std::exp(-std::abs(decay_in[i]));
  }
}

template <class F>
const F* KeyExtractor<F>::forward(const F* x, int batch, int time) {
  B = batch;
  T = time;
  const int hs = C / H;
  const int64_t rows = static_cast<int64_t>(B) * T;
  const F* kt = W_k.forward(x, rows);
  head_coefficients(decay.data(), scale.data());
  if (gated) {
    gate_in = W_g.forward(x, rows);
    decay_in = W_lambda.forward(x, rows);
    gate_values(gate.data(), step_decay.data(), gate_in, decay_in, rows * H);
  }
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; ++b) {
    const int64_t off = static_cast<int64_t>(b) * T * C, hoff = static_cast<int64_t>(b) * T * H;
    if (gated)
      gated_average_forward(kbar.data() + off, kt + off, gate.data() + hoff, step_decay.data() + hoff, T, C, hs);
    else
      leaky_average_forward(kbar.data() + off, kt + off, decay.data(), T, C, hs);
    normalize_scale_forward(k.data() + off, norm.data() + hoff, kbar.data() + off, scale.data(), T, C, hs);
  }
  return k.data();
}

template <class F>
void KeyExtractor<F>::backward(const F* dk, F* dx) {
  const int hs = C / H;
  dkbar.zero();
  dkt.zero();
  partial.zero();  // [dlogscale | ddecay] per (b, h)
  if (gated) {
    dgate.zero();
    ddecay.zero();
  }
  F* dlogscale = partial.data();
  F* ddecay_head = partial.data() + static_cast<int64_t>(B) * H;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; ++b) {
    const int64_t off = static_cast<int64_t>(b) * T * C, hoff = static_cast<int64_t>(b) * T * H;
    normalize_scale_backward(dkbar.data() + off, dlogscale + b * H, dk + off, k.data() + off, kbar.data() + off,
                             norm.data() + hoff, scale.data(), T, C, hs);
    if (gated)
      gated_average_backward(dkt.data() + off, dgate.data() + hoff, ddecay.data() + hoff, scan.data() + off,
                             dkbar.data() + off, W_k.y.data() + off, kbar.data() + off, gate.data() + hoff,
                             step_decay.data() + hoff, T, C, hs);
    else
      leaky_average_backward(dkt.data() + off, ddecay_head + b * H, scan.data() + off, dkbar.data() + off,
                             kbar.data() + off, decay.data(), T, C, hs);
  }
  for (int h = 0; h < H; ++h) {
    F sum_scale = 0, sum_decay = 0;
    for (int b = 0; b < B; ++b) {
      sum_scale += dlogscale[b * H + h];
      sum_decay += ddecay_head[b * H + h];
    }
    // clamp(max) passes the gradient only where the bound is not active (as torch.clamp)
    if (scaled && scale_power * kExpScaling * key_scale.value[h] <= scale_cap)
      key_scale.grad[h] += static_cast<F>(sum_scale * scale_power * kExpScaling);
    if (gated || fixed_decay >= 0) continue;
    // decay = exp(-10 |beta|): d decay / d beta = -10 sign(beta) decay (sign(0) = 0, as torch.abs)
    const F beta = leaky_key_beta.value[h];
    const F sign = beta > 0 ? F(1) : (beta < 0 ? F(-1) : F(0));
    leaky_key_beta.grad[h] += static_cast<F>(sum_decay * decay[h] * -kExpScaling * sign);
  }
  if (gated) {  // g = exp(a): dg/da = g; lambda = exp(-|c|): dlambda/dc = -sign(c) lambda
    const int64_t n = static_cast<int64_t>(B) * T * H;
    for (int64_t i = 0; i < n; ++i) {
      dgate[i] *= gate[i];
      const F sign = decay_in[i] > 0 ? F(1) : (decay_in[i] < 0 ? F(-1) : F(0));
      ddecay[i] *= -sign * step_decay[i];
    }
    W_g.backward(dgate.data(), dx);
    W_lambda.backward(ddecay.data(), dx);
  }
  W_k.backward(dkt.data(), dx);
}

template <class F>
typename KeyExtractor<F>::Stream KeyExtractor<F>::start_stream(int max_rows) const {
  Stream s;
  s.decay.resize(H);
  s.scale.resize(H);
  head_coefficients(s.decay.data(), s.scale.data());
  s.last.assign(C, F(0));
  s.kt.resize(static_cast<size_t>(max_rows) * C);
  s.kbar.resize(static_cast<size_t>(max_rows) * C);
  s.norm.resize(static_cast<size_t>(max_rows) * H);
  if (gated) {
    s.gate.resize(static_cast<size_t>(max_rows) * H);
    s.step_decay.resize(s.gate.size());
  }
  return s;
}

template <class F>
void KeyExtractor<F>::step(F* k_out, const F* x, StreamSlices<Stream> slices) const {
  const int hs = C / H, rows = total_rows(slices);
  Stream& lead = *slices.front().stream;  // its scratch serves every slice
  W_k.apply_step(lead.kt.data(), x, rows, slices.size());
  if (gated) {
    W_g.apply_step(lead.gate.data(), x, rows, slices.size());
    W_lambda.apply_step(lead.step_decay.data(), x, rows, slices.size());
    gate_values(lead.gate.data(), lead.step_decay.data(), lead.gate.data(), lead.step_decay.data(), static_cast<int64_t>(rows) * H);
  }
  int64_t row = 0;
  for (const auto& [s, n] : slices) {  // the averages run on within each stream
    F* kbar = lead.kbar.data() + row * C;
    const F* kt = lead.kt.data() + row * C;
    if (gated)
      gated_average_forward(kbar, kt, lead.gate.data() + row * H, lead.step_decay.data() + row * H, n, C, hs, s->last.data());
    else
      leaky_average_forward(kbar, kt, s->decay.data(), n, C, hs, s->last.data());
    std::copy_n(kbar + static_cast<int64_t>(n - 1) * C, C, s->last.data());
    row += n;
  }
  normalize_scale_forward(k_out, lead.norm.data(), lead.kbar.data(), lead.scale.data(), rows, C, hs);
}

template struct KeyExtractor<float>;
template struct KeyExtractor<double>;

}  // namespace mosaic
