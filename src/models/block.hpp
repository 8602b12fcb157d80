// A pre-norm residual block: x += mixer(ln_1(x)); x += feedforward(ln_2(x)). The mixer reads
// across positions, the feedforward layer reads one position: the Memory Mosaic fills them
// with (ContextualMemory, PersistentMemory), GPT with (CausalSelfAttention, Mlp). Their
// state_dict prefixes stay the reference's "attn." and "mlp." for both models.
// Shapes: x, y (B, T, C).
#pragma once
#include <cstring>
#include <string>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "core/step_profile.hpp"
#include "layers/layernorm.hpp"

namespace mosaic {

template <class F, class Mixer, class FeedForward>
struct Block {
  LayerNorm<F> ln_1, ln_2;
  Mixer mixer;              // reference name: attn
  FeedForward feedforward;  // reference name: mlp
  StepProfile* profile = nullptr;

  // cache
  int B = 0, T = 0, C = 0;
  Activation<F> mid, out;      // x after the first and the second residual add
  Activation<F> dmid, dnorm;   // backward scratch

  Block(int n_embd, bool bias, Mixer m, FeedForward f)
      : ln_1(n_embd, bias), ln_2(n_embd, bias), mixer(std::move(m)), feedforward(std::move(f)), C(n_embd) {}

  void register_params(ParamTable<F>& table, const std::string& prefix) {
    ln_1.register_params(table, prefix + "ln_1.");
    mixer.register_params(table, prefix + "attn.");
    ln_2.register_params(table, prefix + "ln_2.");
    feedforward.register_params(table, prefix + "mlp.");
  }

  void plan(Activations<F>& acts, const std::string& prefix, int batch, int time) {
    const int64_t rows = static_cast<int64_t>(batch) * time;
    ln_1.plan(acts, prefix + "ln_1.", rows);
    mixer.plan(acts, prefix + "attn.", batch, time);
    ln_2.plan(acts, prefix + "ln_2.", rows);
    feedforward.plan(acts, prefix + "mlp.", batch, time);
    for (auto [name, slot] : {std::pair{"mid", &mid}, {"out", &out}, {"dmid", &dmid}, {"dnorm", &dnorm}})
      acts.add(prefix + name, {batch, time, C}, slot);
  }

  const F* forward(const F* x, int batch, int time) {
    B = batch;
    T = time;
    const int64_t n = static_cast<int64_t>(B) * T * C;
    const int64_t rows = static_cast<int64_t>(B) * T;
    const F *h, *a, *m;
    timed("ln_1", false, [&] { h = ln_1.forward(x, rows); });
    timed(Mixer::kName, false, [&] { a = mixer.forward(h, B, T); });
    timed("residual", false, [&] { for (int64_t i = 0; i < n; ++i) mid[i] = x[i] + a[i]; });
    timed("ln_2", false, [&] { h = ln_2.forward(mid.data(), rows); });
    timed(FeedForward::kName, false, [&] { m = feedforward.forward(h, B, T); });
    timed("residual", false, [&] { for (int64_t i = 0; i < n; ++i) out[i] = mid[i] + m[i]; });
    return out.data();
  }

  // Accumulates into dx (the residual path adds dy itself) and the parameter grads.
  void backward(const F* dy, F* dx) {
    const int64_t n = static_cast<int64_t>(B) * T * C;
    timed("residual", true, [&] { std::memcpy(dmid.data(), dy, n * sizeof(F)); });
    dnorm.zero();
    timed(FeedForward::kName, true, [&] { feedforward.backward(dy, dnorm.data()); });
    timed("ln_2", true, [&] { ln_2.backward(dnorm.data(), dmid.data()); });
    dnorm.zero();
    timed(Mixer::kName, true, [&] { mixer.backward(dmid.data(), dnorm.data()); });
    timed("ln_1", true, [&] { ln_1.backward(dnorm.data(), dx); });
    timed("residual", true, [&] { for (int64_t i = 0; i < n; ++i) dx[i] += dmid[i]; });
  }

 private:
  template <class Fn>
  void timed(const char* part, bool backward, Fn&& fn) {
    ProfileScope timer(profile, part, backward);
    fn();
  }
};

}  // namespace mosaic
