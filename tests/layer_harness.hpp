// How the gradient tests build and run each layer kind at a shape, and the models: the only
// place in the tests that constructs, sets up, runs or configures a layer (the tied head's
// options included), so that a change to a layer's API touches this file. A layer is set up
// (parameters registered and allocated, activations planned and allocated) in over_rows,
// over_sequences, make_head_case or make_embedding_case, and the tied head's options in
// make_tied_head. Also the driver that puts
// a layer through gradcheck.hpp. Not a test itself, and not a reference implementation: the
// float64 layers are the code under test.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/param_table.hpp"
#include "core/rng.hpp"
#include "gradcheck.hpp"
#include "layers/causal_self_attention.hpp"
#include "layers/contextual_memory.hpp"
#include "layers/embedding.hpp"
#include "layers/key_extractor.hpp"
#include "layers/layernorm.hpp"
#include "layers/linear.hpp"
#include "layers/mlp.hpp"
#include "layers/persistent_memory.hpp"
#include "layers/swiglu.hpp"
#include "layers/tied_lm_head.hpp"
#include "layers/value_extractor.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "models/language_model.hpp"
#include "op_cases.hpp"

namespace mosaic::testing {

using op_cases::Shape;  // B sequences of T tokens of C channels, H heads

// A layer built at one shape, its parameters allocated: forward(x) gives out_size values,
// backward(dy, dx) accumulates into dx and the parameter grads (as the layers do). in_size 0:
// the input is token ids, with no gradient.
struct LayerCase {
  ParamTable<double> table;
  Activations<double> acts;  // the layer's own arena (a model plans one for all its layers)
  size_t in_size = 0, out_size = 0;
  std::function<const double*(const double*)> forward;
  std::function<void(const double*, double*)> backward;
  std::shared_ptr<void> layer;  // owns what the two functions call
  double output_rounding = kRounding;  // relative rounding of an output (gradcheck.hpp)
};

// The tied head's options, set in this one function.
template <class F>
std::unique_ptr<TiedLmHead<F>> make_tied_head(Embedding<F>* wte, int64_t rows_per_chunk, bool generic_path = false) {
  return std::make_unique<TiedLmHead<F>>(wte, LmHeadOptions{rows_per_chunk, !generic_path});  // chunk 0: the head's own
}

// A tied head over its own embedding (V, C), for N rows, in float or float64, with its arena.
template <class F>
struct TiedHead {
  Embedding<F> wte;
  std::unique_ptr<TiedLmHead<F>> head;
  int64_t N;
  Activations<F> acts;
  TiedHead(int V, int C, int64_t rows, int64_t rows_per_chunk)
      : wte(V, C), head(make_tied_head(&wte, rows_per_chunk)), N(rows) {
    head->plan(acts, "", N, 0);
    acts.allocate();
  }
  TiedHead(const TiedHead&) = delete;  // the head points at wte
  void register_params(ParamTable<F>& table) { wte.register_params(table, "wte"); }
  F forward(const F* x, const int32_t* targets, bool want_grad) { return head->loss(x, N, targets, want_grad); }
  void backward(F loss_scale, F* dx) { head->add_grads(loss_scale, dx); }
};

namespace harness_detail {

// Layers whose forward takes (x, rows): Linear, LayerNorm.
template <class L>
std::unique_ptr<LayerCase> over_rows(std::shared_ptr<L> layer, int64_t rows, int in, int out) {
  auto c = std::make_unique<LayerCase>();
  layer->register_params(c->table, "");
  c->table.allocate();
  layer->plan(c->acts, "", rows);
  c->acts.allocate();
  c->in_size = static_cast<size_t>(rows) * in;
  c->out_size = static_cast<size_t>(rows) * out;
  L* l = layer.get();
  c->forward = [l, rows](const double* x) { return l->forward(x, rows); };
  c->backward = [l](const double* dy, double* dx) { l->backward(dy, dx); };
  c->layer = layer;
  return c;
}

// Layers whose forward takes (x, B, T) and keep the width C.
template <class L>
std::unique_ptr<LayerCase> over_sequences(std::shared_ptr<L> layer, const Shape& s) {
  auto c = std::make_unique<LayerCase>();
  layer->register_params(c->table, "");
  c->table.allocate();
  layer->plan(c->acts, "", s.B, s.T);
  c->acts.allocate();
  c->in_size = c->out_size = static_cast<size_t>(s.rows()) * s.C;
  L* l = layer.get();
  c->forward = [l, s](const double* x) { return l->forward(x, s.B, s.T); };
  c->backward = [l](const double* dy, double* dx) { l->backward(dy, dx); };
  c->layer = layer;
  return c;
}

}  // namespace harness_detail

// The float64 tied head and its cross-entropy as a layer of one output, the mean loss over the
// targets (-1: ignored); the output weight dy[0] is backward's loss scale.
inline std::unique_ptr<LayerCase> make_head_case(int V, int C, std::vector<int32_t> targets, int64_t rows_per_chunk) {
  struct State {
    TiedHead<double> head;
    std::vector<int32_t> targets;
    double loss = 0;
    State(int V, int C, std::vector<int32_t> t, int64_t chunk)
        : head(V, C, static_cast<int64_t>(t.size()), chunk), targets(std::move(t)) {}
  };
  auto st = std::make_shared<State>(V, C, std::move(targets), rows_per_chunk);
  auto c = std::make_unique<LayerCase>();
  st->head.register_params(c->table);
  c->table.allocate();
  c->in_size = st->targets.size() * C;
  c->out_size = 1;
  c->output_rounding = kRounding * std::sqrt(static_cast<double>(st->targets.size()));  // a sum over rows in double
  State* p = st.get();
  c->forward = [p](const double* x) {
    p->loss = p->head.forward(x, p->targets.data(), true);
    return &p->loss;
  };
  c->backward = [p](const double* dy, double* dx) { p->head.backward(dy[0], dx); };
  c->layer = st;
  return c;
}

// Token ids in, rows of the table out; only the table has a gradient.
inline std::unique_ptr<LayerCase> make_embedding_case(int V, int C, std::vector<int32_t> ids) {
  struct State {
    Embedding<double> table;
    std::vector<int32_t> ids;
  };
  auto st = std::make_shared<State>(State{Embedding<double>(V, C), std::move(ids)});
  auto c = std::make_unique<LayerCase>();
  st->table.register_params(c->table, "weight");
  c->table.allocate();
  st->table.plan(c->acts, "weight", static_cast<int64_t>(st->ids.size()));
  c->acts.allocate();
  c->out_size = st->ids.size() * C;
  State* p = st.get();
  c->forward = [p](const double*) { return p->table.forward(p->ids.data(), static_cast<int64_t>(p->ids.size())); };
  c->backward = [p](const double* dy, double*) { p->table.backward(dy); };
  c->layer = st;
  return c;
}

enum class LayerKind {
  Linear,
  LayerNorm,
  Embedding,
  TiedLmHead,         // all rows in one chunk
  TiedLmHeadChunked,  // chunks of N / 3 + 1 rows: the gradients accumulate across chunks
  Mlp,
  CausalSelfAttention,
  KeyExtractorContextual,  // s = 1
  KeyExtractorPersistent,  // s = 2
  ValueExtractor,
  ContextualMemory,
  PersistentMemory,       // pmem_count 1
  PersistentMemoryBanks,  // pmem_count 3
  // dropout 0.3 on the probabilities, one fixed pass key (the mask is the same in every pass)
  CausalSelfAttentionDropout,
  ContextualMemoryDropout,
  PersistentMemoryDropout,  // pmem_count 2
  KeyExtractorUpbound,      // s = 2, StackAssoMem's clamp at kernel_beta_upbound 1: some heads clamped
  CausalSelfAttentionRope,  // rotary positions (even head sizes only)
  CausalSelfAttentionAlibi,
  // Memory Mosaics v2
  KeyExtractorGated,        // input-dependent gate and decay, no key scale
  ContextualMemoryLevels,   // short-term (lags 1..3) and long-term (lags 3..) levels, gated keys, adaptive beta
  ContextualMemoryDrawn,    // a training pass: the long-term delay drawn in [2, 5]; v1 keys, fixed beta
  SwiGlu,
  KeyExtractorFixedDecay,  // the leaky average's decay frozen at 0.6 (figure 15's sweep): no decay parameter
};
constexpr LayerKind kLastLayerKind = LayerKind::KeyExtractorFixedDecay;

inline const char* layer_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::Linear: return "Linear";
    case LayerKind::LayerNorm: return "LayerNorm";
    case LayerKind::Embedding: return "Embedding";
    case LayerKind::TiedLmHead: return "TiedLmHead";
    case LayerKind::TiedLmHeadChunked: return "TiedLmHeadChunked";
    case LayerKind::Mlp: return "Mlp";
    case LayerKind::CausalSelfAttention: return "CausalSelfAttention";
    case LayerKind::KeyExtractorContextual: return "KeyExtractorContextual";
    case LayerKind::KeyExtractorPersistent: return "KeyExtractorPersistent";
    case LayerKind::ValueExtractor: return "ValueExtractor";
    case LayerKind::ContextualMemory: return "ContextualMemory";
    case LayerKind::PersistentMemory: return "PersistentMemory";
    case LayerKind::PersistentMemoryBanks: return "PersistentMemoryBanks";
    case LayerKind::CausalSelfAttentionDropout: return "CausalSelfAttentionDropout";
    case LayerKind::ContextualMemoryDropout: return "ContextualMemoryDropout";
    case LayerKind::PersistentMemoryDropout: return "PersistentMemoryDropout";
    case LayerKind::KeyExtractorUpbound: return "KeyExtractorUpbound";
    case LayerKind::CausalSelfAttentionRope: return "CausalSelfAttentionRope";
    case LayerKind::CausalSelfAttentionAlibi: return "CausalSelfAttentionAlibi";
    case LayerKind::KeyExtractorGated: return "KeyExtractorGated";
    case LayerKind::ContextualMemoryLevels: return "ContextualMemoryLevels";
    case LayerKind::ContextualMemoryDrawn: return "ContextualMemoryDrawn";
    case LayerKind::SwiGlu: return "SwiGlu";
    case LayerKind::KeyExtractorFixedDecay: return "KeyExtractorFixedDecay";
  }
  return "?";
}

inline bool has_bias_option(LayerKind kind) {
  return kind != LayerKind::Embedding && kind != LayerKind::TiedLmHead && kind != LayerKind::TiedLmHeadChunked;
}

constexpr double kTestDropout = 0.3;
constexpr uint64_t kTestDropoutKey = 12345;

// The layer of `kind` at shape s, parameters allocated (and zero). Ids and targets, where the
// layer takes them, are drawn from seed.
inline std::unique_ptr<LayerCase> make_layer(LayerKind kind, const Shape& s, bool bias, uint64_t seed = 1) {
  using harness_detail::over_rows;
  using harness_detail::over_sequences;
  const int C = s.C, H = s.H;
  const int64_t N = s.rows();
  Rng rng(seed);
  switch (kind) {
    case LayerKind::Linear:  // an output width unlike the input's
      return over_rows(std::make_shared<Linear<double>>(C, C + 3, bias), N, C, C + 3);
    case LayerKind::LayerNorm:
      return over_rows(std::make_shared<LayerNorm<double>>(C, bias), N, C, C);
    case LayerKind::Embedding: {
      const int V = C + 5;
      std::vector<int32_t> ids(N);
      for (auto& id : ids) id = static_cast<int32_t>(rng.below(V));
      ids.back() = ids.front();  // a repeated id: the backward is a scatter-add
      return make_embedding_case(V, C, std::move(ids));
    }
    case LayerKind::TiedLmHead:
    case LayerKind::TiedLmHeadChunked: {
      const int V = 2 * C + 3;
      std::vector<int32_t> targets(N);
      for (int64_t i = 0; i < N; ++i) targets[i] = i % 5 == 2 ? -1 : static_cast<int32_t>(rng.below(V));
      return make_head_case(V, C, std::move(targets), kind == LayerKind::TiedLmHead ? 0 : N / 3 + 1);
    }
    case LayerKind::Mlp:
      return over_sequences(std::make_shared<Mlp<double>>(C, bias), s);
    case LayerKind::CausalSelfAttention:
      return over_sequences(std::make_shared<CausalSelfAttention<double>>(C, H, bias), s);
    case LayerKind::KeyExtractorContextual:
      return over_sequences(std::make_shared<KeyExtractor<double>>(C, H, bias, KeyOptions{.scale_power = 1}), s);
    case LayerKind::KeyExtractorPersistent:
      return over_sequences(std::make_shared<KeyExtractor<double>>(C, H, bias, KeyOptions{.scale_power = 2}), s);
    case LayerKind::ValueExtractor:
      return over_sequences(std::make_shared<ValueExtractor<double>>(C, H, bias), s);
    case LayerKind::ContextualMemory:
      return over_sequences(std::make_shared<ContextualMemory<double>>(C, H, bias), s);
    case LayerKind::PersistentMemory:
      return over_sequences(std::make_shared<PersistentMemory<double>>(C, H, 5, 1, bias), s);
    case LayerKind::PersistentMemoryBanks:
      return over_sequences(std::make_shared<PersistentMemory<double>>(C, H, 7, 3, bias), s);
    case LayerKind::CausalSelfAttentionDropout: {
      auto layer = std::make_shared<CausalSelfAttention<double>>(C, H, bias, kTestDropout);
      layer->prob_drop.set_pass(kTestDropoutKey, true);
      return over_sequences(layer, s);
    }
    case LayerKind::ContextualMemoryDropout: {
      auto layer = std::make_shared<ContextualMemory<double>>(C, H, bias, ContextualMemoryOptions{.prob_dropout = kTestDropout});
      layer->prob_drop.set_pass(kTestDropoutKey, true);
      return over_sequences(layer, s);
    }
    case LayerKind::PersistentMemoryDropout: {
      auto layer = std::make_shared<PersistentMemory<double>>(C, H, 6, 2, bias, 0.0, kTestDropout);
      layer->prob_drop.set_pass(kTestDropoutKey, true);
      return over_sequences(layer, s);
    }
    case LayerKind::KeyExtractorUpbound:
      return over_sequences(std::make_shared<KeyExtractor<double>>(C, H, bias, KeyOptions{.scale_power = 2, .kernel_beta_upbound = 1.0}), s);
    case LayerKind::CausalSelfAttentionRope:  // an odd head size leaves its last channel unrotated
      return over_sequences(std::make_shared<CausalSelfAttention<double>>(C, H, bias, 0.0, "rope"), s);
    case LayerKind::CausalSelfAttentionAlibi:
      return over_sequences(std::make_shared<CausalSelfAttention<double>>(C, H, bias, 0.0, "alibi"), s);
    case LayerKind::KeyExtractorFixedDecay:
      return over_sequences(std::make_shared<KeyExtractor<double>>(C, H, bias, KeyOptions{.scale_power = 1, .fixed_decay = 0.6}), s);
    case LayerKind::KeyExtractorGated:
      return over_sequences(std::make_shared<KeyExtractor<double>>(C, H, bias, KeyOptions{.scaled = false, .gated = true}), s);
    case LayerKind::ContextualMemoryLevels: {
      const ContextualMemoryOptions o{.short_term = 4, .long_delay_min = 2, .long_delay_max = 5, .long_delay_eval = 3,
                                      .bandwidth = true, .adaptive = true, .gated_keys = true};
      auto layer = std::make_shared<ContextualMemory<double>>(C, H, bias, o);
      layer->set_pass(kTestDropoutKey, false);  // the inference delay
      return over_sequences(layer, s);
    }
    case LayerKind::ContextualMemoryDrawn: {
      const ContextualMemoryOptions o{.short_term = 3, .long_delay_min = 2, .long_delay_max = 5, .long_delay_eval = 3,
                                      .bandwidth = true, .adaptive = false, .gated_keys = false};
      auto layer = std::make_shared<ContextualMemory<double>>(C, H, bias, o);
      layer->set_pass(kTestDropoutKey, true);  // a training pass: its delay drawn from the key
      return over_sequences(layer, s);
    }
    case LayerKind::SwiGlu:
      return over_sequences(std::make_shared<SwiGlu<double>>(C, 2 * C + 1, bias), s);
  }
  throw std::invalid_argument("unknown layer kind");
}

template <class F>
F* value_of(ParamTable<F>& table, const std::string& name) {
  const ParamEntry* e = table.find(name);
  if (!e) throw std::invalid_argument("no parameter named " + name);
  return table.value(*e);
}

template <class F>
F* grad_of(ParamTable<F>& table, const std::string& name) {
  const ParamEntry* e = table.find(name);
  if (!e) throw std::invalid_argument("no parameter named " + name);
  return table.grad(*e);
}

// Random parameters away from kinks: matrices N(0, 0.3); per-head scalars of either sign
// with magnitude in [0.05, 0.15] (so |beta| and the key-scale clamp are differentiable).
inline void randomize(ParamTable<double>& table, Rng& rng) {
  for (const auto& e : table.entries()) {
    double* p = table.value(e);
    const size_t d = e.shape.size();
    const bool per_head = d == 4 && e.shape[2] == 1 && e.shape[3] == 1;
    for (size_t i = 0; i < e.numel; ++i)
      p[i] = per_head ? (rng.uniform() < 0.5 ? -1 : 1) * (0.05 + 0.1 * rng.uniform()) : rng.normal() * 0.3;
  }
}

inline std::vector<GradTarget> param_targets(ParamTable<double>& table) {
  std::vector<GradTarget> targets;
  for (const auto& e : table.entries()) targets.push_back({e.name, table.value(e), table.grad(e), e.numel});
  return targets;
}

struct LayerCheck {
  GradCheckResult intact, broken;  // broken: only when a tensor to break was named
};

// Checks a layer through the scalar loss sum(w * y), random parameters, input x and weights w:
// every parameter and x ("x"), then, with break_tensor, the same check again with that
// gradient broken after backward (gradcheck.hpp).
inline LayerCheck check_layer(LayerCase& c, size_t max_per_tensor, const std::string& break_tensor = "",
                              uint64_t seed = 1) {
  Rng rng(seed);
  randomize(c.table, rng);
  std::vector<double> x(c.in_size), w(c.out_size), dx(c.in_size);
  fill_normal(x.data(), x.size(), rng, 1.0);
  fill_normal(w.data(), w.size(), rng, 1.0);
  // Summed in long double: in double, a sum of thousands of terms rounds at ~eps sqrt(n) of
  // their size, above the rounding gradcheck allows for (that of the terms themselves).
  auto loss = [&] {
    const double* y = c.forward(x.data());
    long double s = 0;
    for (size_t i = 0; i < w.size(); ++i) s += static_cast<long double>(w[i]) * y[i];
    return static_cast<double>(s);
  };
  auto grad = [&] {
    c.table.zero_grad();
    std::fill(dx.begin(), dx.end(), 0.0);
    c.backward(w.data(), dx.data());
  };
  auto targets = param_targets(c.table);
  if (c.in_size) targets.push_back({"x", x.data(), dx.data(), c.in_size});
  // The terms w_i y_i have random signs: the loss rounds at the size of their root sum of
  // squares, which its value may undercut by chance.
  GradCheckOptions options;
  options.max_per_tensor = max_per_tensor;
  options.loss_rounding = c.output_rounding;
  const double* y = c.forward(x.data());
  for (size_t i = 0; i < w.size(); ++i) options.loss_magnitude += w[i] * y[i] * w[i] * y[i];
  options.loss_magnitude = std::sqrt(options.loss_magnitude);
  LayerCheck result;
  result.intact = gradcheck(loss, grad, targets, options);
  options.break_tensor = break_tensor;
  if (!break_tensor.empty()) result.broken = gradcheck(loss, grad, targets, options);
  return result;
}

// A model of config in float64, initialised as for training (models/init.cpp) from seed.
inline std::unique_ptr<LanguageModel<double>> make_test_model(const ModelConfig& config, uint64_t seed) {
  auto model = make_model<double>(config);
  Rng rng(seed);
  init_parameters(model->params(), config, rng);
  return model;
}

}  // namespace mosaic::testing
