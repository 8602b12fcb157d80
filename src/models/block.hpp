// A pre-norm residual block: x += mixer(ln_1(x)); x += memory(ln_2(x)). The Memory Mosaic
// fills it with (ContextualMemory, PersistentMemory), GPT with (CausalSelfAttention, Mlp).
// Shapes: x, y (B, T, C).
#pragma once
#include <cstring>
#include <string>

#include "core/buffer.hpp"
#include "core/param_table.hpp"
#include "core/step_profile.hpp"
#include "layers/layernorm.hpp"

namespace mosaic {

template <class F, class Mixer, class Memory>
struct Block {
  LayerNorm<F> ln_1, ln_2;
  Mixer attn;   // reference name: attn
  Memory mlp;   // reference name: mlp
  StepProfile* profile = nullptr;

  // cache
  int B = 0, T = 0, C = 0;
  Buffer<F> mid, out;      // x after the first and the second residual add
  Buffer<F> dmid, dnorm;   // backward scratch

  Block(int n_embd, bool bias, Mixer mixer, Memory memory)
      : ln_1(n_embd, bias), ln_2(n_embd, bias), attn(std::move(mixer)), mlp(std::move(memory)), C(n_embd) {}

  void register_params(ParamTable<F>& table, const std::string& prefix) {
    ln_1.register_params(table, prefix + "ln_1.");
    attn.register_params(table, prefix + "attn.");
    ln_2.register_params(table, prefix + "ln_2.");
    mlp.register_params(table, prefix + "mlp.");
  }

  const F* forward(const F* x, int batch, int time) {
    B = batch;
    T = time;
    const int64_t n = static_cast<int64_t>(B) * T * C;
    const int64_t rows = static_cast<int64_t>(B) * T;
    mid.resize(n);
    out.resize(n);
    const F *h, *a, *m;
    timed("ln_1", false, [&] { h = ln_1.forward(x, rows); });
    timed(Mixer::kName, false, [&] { a = attn.forward(h, B, T); });
    timed("residual", false, [&] { for (int64_t i = 0; i < n; ++i) mid[i] = x[i] + a[i]; });
    timed("ln_2", false, [&] { h = ln_2.forward(mid.data(), rows); });
    timed(Memory::kName, false, [&] { m = mlp.forward(h, B, T); });
    timed("residual", false, [&] { for (int64_t i = 0; i < n; ++i) out[i] = mid[i] + m[i]; });
    return out.data();
  }

  // Accumulates into dx (the residual path adds dy itself) and the parameter grads.
  void backward(const F* dy, F* dx) {
    const int64_t n = static_cast<int64_t>(B) * T * C;
    dmid.resize(n);
    dnorm.resize(n);
    timed("residual", true, [&] { std::memcpy(dmid.data(), dy, n * sizeof(F)); });
    timed(Memory::kName, true, [&] { mlp.backward(dy, dnorm.data()); });
    timed("ln_2", true, [&] { ln_2.backward(dnorm.data(), dmid.data()); });
    dnorm.zero();
    timed(Mixer::kName, true, [&] { attn.backward(dmid.data(), dnorm.data()); });
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
