// A pre-norm residual block: x += mixer(ln_1(x)); x += feedforward(ln_2(x)). The mixer reads
// across positions, the feedforward layer reads one position: the Memory Mosaic fills them
// with (ContextualMemory, PersistentMemory), GPT with (CausalSelfAttention, Mlp). Their
// state_dict prefixes stay the reference's "attn." and "mlp." for both models. forward() runs
// whole sequences; step() continues a stream, wired the same way through the layers' own steps.
// Shapes: x, y (B, T, C); a stream's x (rows, C).
#pragma once
#include <cstring>
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "core/step_profile.hpp"
#include "core/stream_state.hpp"
#include "kernels/dropout.hpp"
#include "layers/layernorm.hpp"
#include "layers/stream_settings.hpp"
#include "layers/stream_slices.hpp"

namespace mosaic {

template <class F, class Mixer, class FeedForward>
struct Block {
  LayerNorm<F> ln_1, ln_2;
  Mixer mixer;              // reference name: attn
  FeedForward feedforward;  // reference name: mlp
  Dropout mixer_drop, feedforward_drop;  // on the branches' outputs (nanoGPT's resid_dropout)
  // Dropout sites, distinct from the embeddings' (decoder) and the layers' kProbSite (1, 2).
  static constexpr uint64_t kMixerOutputSite = 3, kFeedforwardOutputSite = 4;
  StepProfile* profile = nullptr;

  // cache
  int B = 0, T = 0, C = 0;
  Activation<F> mid, out;      // x after the first and the second residual add
  Activation<F> dmid, dnorm;   // backward scratch
  Activation<F> dbranch;       // backward, with dropout: a branch's output gradient, masked

  // A stream's state: its two layers' states and scratch (no dropout outside training).
  struct Stream {
    typename Mixer::Stream mixer;
    typename FeedForward::Stream feedforward;
    std::vector<F> normed, branch;  // scratch (max_rows, C)
    void reset() {
      mixer.reset();
      feedforward.reset();
    }
  };

  Block(int n_embd, bool bias, Mixer m, FeedForward f, double resid_dropout = 0)
      : ln_1(n_embd, bias), ln_2(n_embd, bias), mixer(std::move(m)), feedforward(std::move(f)),
        mixer_drop(resid_dropout, kMixerOutputSite), feedforward_drop(resid_dropout, kFeedforwardOutputSite), C(n_embd) {}

  // Every dropout site of the block (and a v2 memory's random delays): on for a training pass
  // with this key, or off.
  void set_pass(uint64_t key, bool training) {
    mixer_drop.set_pass(key, training);
    feedforward_drop.set_pass(key, training);
    mixer.set_pass(key, training);
    if constexpr (requires { feedforward.prob_drop; }) feedforward.prob_drop.set_pass(key, training);
  }

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
    if (mixer_drop.p > 0) acts.add(prefix + "dbranch", {batch, time, C}, &dbranch);
  }

  const F* forward(const F* x, int batch, int time) {
    B = batch;
    T = time;
    const int64_t rows = static_cast<int64_t>(B) * T;
    const F *h, *a, *m;
    timed("ln_1", false, [&] { h = ln_1.forward(x, rows); });
    timed(Mixer::kName, false, [&] { a = mixer.forward(h, B, T); });
    timed("residual", false, [&] { add_branch(mid.data(), x, a, mixer_drop); });
    timed("ln_2", false, [&] { h = ln_2.forward(mid.data(), rows); });
    timed(FeedForward::kName, false, [&] { m = feedforward.forward(h, B, T); });
    timed("residual", false, [&] { add_branch(out.data(), mid.data(), m, feedforward_drop); });
    return out.data();
  }

  Stream start_stream(const StreamSettings& settings) const {
    const size_t scratch = static_cast<size_t>(settings.max_rows) * C;
    return {mixer.start_stream(settings), feedforward.start_stream(settings.max_rows), std::vector<F>(scratch),
            std::vector<F>(scratch)};
  }

  // The streams' next positions: x (rows, C) in, the slices' rows in order
  // (layers/stream_slices.hpp), the block's output out, as forward.
  void step(F* x, StreamSlices<Stream> slices) const {
    const int64_t n = static_cast<int64_t>(total_rows(slices)) * C;
    Stream& lead = *slices.front().stream;  // its scratch serves every slice
    ln_1.apply(lead.normed.data(), x, n / C);
    mixer.step(lead.branch.data(), lead.normed.data(), slices_of(slices, [](Stream& s) -> auto& { return s.mixer; }));
    for (int64_t i = 0; i < n; ++i) x[i] += lead.branch[i];
    ln_2.apply(lead.normed.data(), x, n / C);
    feedforward.step(lead.branch.data(), lead.normed.data(), slices_of(slices, [](Stream& s) -> auto& { return s.feedforward; }));
    for (int64_t i = 0; i < n; ++i) x[i] += lead.branch[i];
  }

  // The stream's state under `prefix` (memory files), its layers' under their parameters' names.
  void save_stream(const Stream& s, StreamState& out, const std::string& prefix) const {
    mixer.save_stream(s.mixer, out, prefix + "attn.");
    feedforward.save_stream(s.feedforward, out, prefix + "mlp.");
  }
  void load_stream(Stream& s, const StreamState& in, const std::string& prefix) const {
    mixer.load_stream(s.mixer, in, prefix + "attn.");
    feedforward.load_stream(s.feedforward, in, prefix + "mlp.");
  }

  // Accumulates into dx (the residual path adds dy itself) and the parameter grads.
  void backward(const F* dy, F* dx) {
    const int64_t n = static_cast<int64_t>(B) * T * C;
    timed("residual", true, [&] { std::memcpy(dmid.data(), dy, n * sizeof(F)); });
    dnorm.zero();
    timed(FeedForward::kName, true, [&] { feedforward.backward(branch_grad(dy, feedforward_drop), dnorm.data()); });
    timed("ln_2", true, [&] { ln_2.backward(dnorm.data(), dmid.data()); });
    dnorm.zero();
    timed(Mixer::kName, true, [&] { mixer.backward(branch_grad(dmid.data(), mixer_drop), dnorm.data()); });
    timed("ln_1", true, [&] { ln_1.backward(dnorm.data(), dx); });
    timed("residual", true, [&] { for (int64_t i = 0; i < n; ++i) dx[i] += dmid[i]; });
  }

 private:
  // sum = x + dropout(branch)
  void add_branch(F* sum, const F* x, const F* branch, const Dropout& drop) const {
    const int64_t rows = static_cast<int64_t>(B) * T;
    if (!drop.active()) {
      for (int64_t i = 0; i < rows * C; ++i) sum[i] = x[i] + branch[i];
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const uint64_t key = drop.row_key(0, static_cast<uint64_t>(r));
      for (int c = 0; c < C; ++c) sum[r * C + c] = x[r * C + c] + branch[r * C + c] * drop.factor<F>(key, static_cast<uint32_t>(c));
    }
  }
  // The gradient reaching a branch's output: dy, masked as the forward was.
  const F* branch_grad(const F* dy, const Dropout& drop) {
    if (!drop.active()) return dy;
    drop.apply(dbranch.data(), C, dy, C, static_cast<int64_t>(B) * T, C, 0, 0);
    return dbranch.data();
  }

  template <class Fn>
  void timed(const char* part, bool backward, Fn&& fn) {
    ProfileScope timer(profile, part, backward);
    fn();
  }
};

}  // namespace mosaic
