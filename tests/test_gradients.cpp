// Float64 finite-difference checks of every layer's backward, every parameter and every
// input, plus both full models; and a check that a deliberately wrong gradient fails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "gradcheck.hpp"
#include "plan_layer.hpp"
#include "kernels/attention.hpp"
#include "layers/causal_self_attention.hpp"
#include "layers/contextual_memory.hpp"
#include "layers/embedding.hpp"
#include "layers/key_extractor.hpp"
#include "layers/layernorm.hpp"
#include "layers/linear.hpp"
#include "layers/mlp.hpp"
#include "layers/persistent_memory.hpp"
#include "layers/tied_lm_head.hpp"
#include "layers/value_extractor.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "models/language_model.hpp"

namespace mosaic::testing {
namespace {

// Random parameters away from kinks: matrices N(0, 0.3); per-head scalars of either sign
// with magnitude in [0.05, 0.15] (so |beta| and the key-scale clamp are differentiable).
void randomize(ParamTable<double>& table, Rng& rng) {
  for (const auto& e : table.entries()) {
    double* p = table.value(e);
    const size_t d = e.shape.size();
    const bool per_head = d == 4 && e.shape[2] == 1 && e.shape[3] == 1;
    for (size_t i = 0; i < e.numel; ++i)
      p[i] = per_head ? (rng.uniform() < 0.5 ? -1 : 1) * (0.05 + 0.1 * rng.uniform()) : rng.normal() * 0.3;
  }
}

std::vector<GradTarget> param_targets(ParamTable<double>& table) {
  std::vector<GradTarget> targets;
  for (const auto& e : table.entries()) targets.push_back({e.name, table.value(e), table.grad(e), e.numel});
  return targets;
}

// Checks a layer with forward(x) -> y of out_size and backward(dy, dx), through the scalar
// loss sum(w * y) with random w: every parameter and the input x.
template <class Forward, class Backward>
GradCheckResult check_layer(ParamTable<double>& table, size_t in_size, size_t out_size, Forward forward,
                            Backward backward, uint64_t seed = 1) {
  Rng rng(seed);
  table.allocate();
  randomize(table, rng);
  std::vector<double> x(in_size), w(out_size), dx(in_size);
  fill_normal(x.data(), in_size, rng, 1.0);
  fill_normal(w.data(), out_size, rng, 1.0);
  auto loss = [&] {
    const double* y = forward(x.data());
    double s = 0;
    for (size_t i = 0; i < out_size; ++i) s += w[i] * y[i];
    return s;
  };
  auto grad = [&] {
    table.zero_grad();
    std::fill(dx.begin(), dx.end(), 0.0);
    backward(w.data(), dx.data());
  };
  auto targets = param_targets(table);
  targets.push_back({"x", x.data(), dx.data(), in_size});
  return gradcheck(loss, grad, targets);
}

constexpr int B = 2, T = 6, C = 8, H = 2;
constexpr size_t N = B * T;

#define EXPECT_GRADS_MATCH(result)                                              \
  do {                                                                          \
    auto r_ = (result);                                                         \
    EXPECT_GT(r_.checked, 0u);                                                  \
    EXPECT_LT(r_.worst_error, kGradTolerance) << "worst at " << r_.worst_where; \
  } while (0)

TEST(Gradients, Linear) {
  for (bool bias : {true, false}) {
    Linear<double> layer(C, 5, bias);
    ParamTable<double> table;
    layer.register_params(table, "");
    auto layer_acts = plan_layer<double>(layer, int64_t{N});
    EXPECT_GRADS_MATCH(check_layer(
        table, N * C, N * 5, [&](const double* x) { return layer.forward(x, N); },
        [&](const double* dy, double* dx) { layer.backward(dy, dx); }));
  }
}

TEST(Gradients, LayerNorm) {
  for (bool bias : {true, false}) {
    LayerNorm<double> layer(C, bias);
    ParamTable<double> table;
    layer.register_params(table, "");
    auto layer_acts = plan_layer<double>(layer, int64_t{N});
    EXPECT_GRADS_MATCH(check_layer(
        table, N * C, N * C, [&](const double* x) { return layer.forward(x, N); },
        [&](const double* dy, double* dx) { layer.backward(dy, dx); }));
  }
}

TEST(Gradients, Embedding) {
  Embedding<double> layer(7, C);
  ParamTable<double> table;
  layer.register_params(table, "wte");
  std::vector<int32_t> ids = {3, 0, 6, 3, 3, 1};  // repeated ids exercise the scatter-add
  auto layer_acts = plan_layer<double>(layer, static_cast<int64_t>(ids.size()));
  // The input is integer: only the weight has a gradient, x is a dummy of size 1.
  EXPECT_GRADS_MATCH(check_layer(
      table, 1, ids.size() * C, [&](const double*) { return layer.forward(ids.data(), ids.size()); },
      [&](const double* dy, double*) { layer.backward(dy); }));
}

TEST(Gradients, TiedLmHeadCrossEntropy) {
  const int V = 11;
  Embedding<double> wte(V, C);
  ParamTable<double> table;
  wte.register_params(table, "wte");
  std::vector<int32_t> targets = {1, 10, -1, 0, 5, 5, 2, 9, -1, 3, 4, 7};  // -1 is ignored
  // A scalar layer: forward returns a pointer to the loss, dy is the loss weight. All rows in
  // one chunk, then chunks of 5, 5 and 2 rows (the gradient gemms accumulate across chunks).
  for (int64_t chunk : {0, 5}) {
    TiedLmHead<double> head(&wte, {chunk, true});
    auto acts = plan_layer<double>(head, int64_t{N}, int64_t{0});
    double loss_value = 0;
    EXPECT_GRADS_MATCH(check_layer(
        table, N * C, 1,
        [&](const double* x) {
          loss_value = head.loss(x, N, targets.data(), true);
          return &loss_value;
        },
        [&](const double* dy, double* dx) { head.add_grads(dy[0], dx); }));
  }
}

TEST(Gradients, MlpWithGelu) {
  Mlp<double> layer(C, true);
  ParamTable<double> table;
  layer.register_params(table, "");
  auto layer_acts = plan_layer<double>(layer, B, T);
  EXPECT_GRADS_MATCH(check_layer(
      table, N * C, N * C, [&](const double* x) { return layer.forward(x, B, T); },
      [&](const double* dy, double* dx) { layer.backward(dy, dx); }));
}

TEST(Gradients, CausalSelfAttention) {
  CausalSelfAttention<double> layer(C, H, true);
  ParamTable<double> table;
  layer.register_params(table, "");
  auto layer_acts = plan_layer<double>(layer, B, T);
  EXPECT_GRADS_MATCH(check_layer(
      table, N * C, N * C, [&](const double* x) { return layer.forward(x, B, T); },
      [&](const double* dy, double* dx) { layer.backward(dy, dx); }));
}

TEST(Gradients, KeyExtractorContextualAndPersistent) {
  for (int s : {1, 2})
    for (bool bias : {true, false}) {
      KeyExtractor<double> layer(C, H, bias, s);
      ParamTable<double> table;
      layer.register_params(table, "");
      auto layer_acts = plan_layer<double>(layer, B, T);
      EXPECT_GRADS_MATCH(check_layer(
          table, N * C, N * C, [&](const double* x) { return layer.forward(x, B, T); },
          [&](const double* dy, double* dx) { layer.backward(dy, dx); }));
    }
}

TEST(Gradients, KeyExtractorClampedScaleHasZeroGradient) {
  KeyExtractor<double> layer(C, H, true, 2);
  ParamTable<double> table;
  layer.register_params(table, "");
  auto layer_acts = plan_layer<double>(layer, B, T);
  table.allocate();
  layer.key_scale.value[0] = 0.9;  // 2 * 10 * 0.9 = 18 > ln 65535: clamped
  layer.key_scale.value[1] = 0.1;
  std::vector<double> x(N * C, 0.5), dx(N * C);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7 * i);
  Rng rng(3);
  fill_normal(layer.W_k.weight.value, C * C, rng, 0.5);
  const double* k = layer.forward(x.data(), B, T);
  std::vector<double> dk(k, k + N * C);  // loss = |k|^2 / 2
  layer.backward(dk.data(), dx.data());
  EXPECT_EQ(layer.key_scale.grad[0], 0.0);
  EXPECT_NE(layer.key_scale.grad[1], 0.0);
}

TEST(Gradients, ValueExtractor) {
  for (bool bias : {true, false}) {
    ValueExtractor<double> layer(C, H, bias);
    ParamTable<double> table;
    layer.register_params(table, "");
    auto layer_acts = plan_layer<double>(layer, B, T);
    EXPECT_GRADS_MATCH(check_layer(
        table, N * C, N * C, [&](const double* x) { return layer.forward(x, B, T); },
        [&](const double* dy, double* dx) { layer.backward(dy, dx); }));
  }
}

TEST(Gradients, ContextualMemory) {
  ContextualMemory<double> layer(C, H, true);
  ParamTable<double> table;
  layer.register_params(table, "");
  auto layer_acts = plan_layer<double>(layer, B, T);
  EXPECT_GRADS_MATCH(check_layer(
      table, N * C, N * C, [&](const double* x) { return layer.forward(x, B, T); },
      [&](const double* dy, double* dx) { layer.backward(dy, dx); }));
}

TEST(Gradients, PersistentMemory) {
  for (int count : {1, 3}) {
    PersistentMemory<double> layer(C, H, 5, count, count == 1);
    ParamTable<double> table;
    layer.register_params(table, "");
    auto layer_acts = plan_layer<double>(layer, B, T);
    EXPECT_GRADS_MATCH(check_layer(
        table, N * C, N * C, [&](const double* x) { return layer.forward(x, B, T); },
        [&](const double* dy, double* dx) { layer.backward(dy, dx); }));
  }
  // 300 rows: five row blocks, the last one partial, whose slot-gradient sums are kept per
  // group and added at the end (with 12 rows above there is one group only).
  constexpr int kLongT = 150;
  PersistentMemory<double> layer(C, H, 5, 2, false);
  ParamTable<double> table;
  layer.register_params(table, "");
  auto layer_acts = plan_layer<double>(layer, B, kLongT);
  EXPECT_GRADS_MATCH(check_layer(
      table, B * kLongT * C, B * kLongT * C, [&](const double* x) { return layer.forward(x, B, kLongT); },
      [&](const double* dy, double* dx) { layer.backward(dy, dx); }));
}

// Whole models through the real loss: every parameter, including the tied embedding.
void check_model(ModelConfig config) {
  auto model = make_model<double>(config);
  Rng rng(7);
  init_parameters(model->params(), config, rng);
  std::vector<int32_t> idx(N), targets(N);
  for (size_t i = 0; i < N; ++i) {
    idx[i] = static_cast<int32_t>(rng.below(config.vocab_size));
    targets[i] = i == 4 ? -1 : static_cast<int32_t>(rng.below(config.vocab_size));
  }
  auto loss = [&] { return model->forward(idx.data(), targets.data(), B, T); };
  auto grad = [&] {
    model->params().zero_grad();
    model->backward(1.0);
  };
  auto result = gradcheck(loss, grad, param_targets(model->params()), 12);
  EXPECT_GT(result.checked, 0u);
  EXPECT_LT(result.worst_error, kGradTolerance) << config.arch << ": worst at " << result.worst_where;
}

ModelConfig tiny(const std::string& arch, bool bias, int pmem_count = 1) {
  ModelConfig c;
  c.arch = arch;
  c.block_size = T;
  c.vocab_size = 13;
  c.n_layer = 2;
  c.n_head = H;
  c.n_embd = C;
  c.pmem_size = 5;
  c.pmem_count = pmem_count;
  c.bias = bias;
  return c;
}

TEST(Gradients, MemoryMosaicModel) {
  check_model(tiny("mosaic", true));
  check_model(tiny("mosaic", false, 2));
}

TEST(Gradients, GptModel) { check_model(tiny("gpt", true)); }

// The checker must be able to fail: a gradient off by 0.1% in one entry, or with the
// leaky-average decay term dropped, is caught.
TEST(Gradients, CheckerCatchesWrongGradient) {
  Linear<double> layer(C, 5, true);
  ParamTable<double> table;
  layer.register_params(table, "");
  auto layer_acts = plan_layer<double>(layer, int64_t{N});
  auto broken = check_layer(
      table, N * C, N * C / 8 * 5, [&](const double* x) { return layer.forward(x, N); },
      [&](const double* dy, double* dx) {
        layer.backward(dy, dx);
        layer.weight.grad[0] *= 1.001;
      });
  EXPECT_GT(broken.worst_error, kGradTolerance);

  KeyExtractor<double> keys(C, H, true, 1);
  ParamTable<double> key_table;
  keys.register_params(key_table, "");
  auto keys_acts = plan_layer<double>(keys, B, T);
  auto no_beta = check_layer(
      key_table, N * C, N * C, [&](const double* x) { return keys.forward(x, B, T); },
      [&](const double* dy, double* dx) {
        keys.backward(dy, dx);
        keys.leaky_key_beta.grad[1] = 0;  // as if the decay's gradient were forgotten
      });
  EXPECT_GT(no_beta.worst_error, kGradTolerance);
}

// The three passes agree: a training forward, evaluate, and the cross-entropy recomputed from
// the logits of a pass without targets; only the last keeps logits, only the first backward.
TEST(Model, TrainingEvaluateAndLogitsPassesAgree) {
  for (const std::string arch : {"mosaic", "gpt"}) {
    const ModelConfig config = tiny(arch, false);
    auto model = make_model<double>(config);
    Rng rng(11);
    init_parameters(model->params(), config, rng);
    std::vector<int32_t> idx(N), targets(N);
    for (size_t i = 0; i < N; ++i) {
      idx[i] = static_cast<int32_t>(rng.below(config.vocab_size));
      targets[i] = i == 2 ? -1 : static_cast<int32_t>(rng.below(config.vocab_size));
    }
    model->forward(idx.data(), nullptr, B, T);
    const int V = config.vocab_size;
    double expected = 0;
    int counted = 0;
    for (size_t i = 0; i < N; ++i) {
      if (targets[i] < 0) continue;
      const double* z = model->logits() + i * V;
      double sum = 0;
      for (int j = 0; j < V; ++j) sum += std::exp(z[j]);
      expected += std::log(sum) - z[targets[i]];
      ++counted;
    }
    expected /= counted;
    EXPECT_NEAR(model->evaluate(idx.data(), targets.data(), B, T), expected, 1e-12) << arch;
    EXPECT_THROW(model->logits(), Error) << arch;
    EXPECT_THROW(model->backward(1.0), Error) << arch << ": evaluate prepares no gradient";
    EXPECT_NEAR(model->forward(idx.data(), targets.data(), B, T), expected, 1e-12) << arch;
    EXPECT_THROW(model->logits(), Error) << arch;
    model->backward(1.0);
    EXPECT_THROW(model->backward(1.0), Error) << arch << ": one backward per training forward";
  }
}


// Tiled attention (tiles of 2 query rows, each stopping at its last visible key) gives the
// untiled result (one tile), forward and backward, for both masks and with dq aliasing dk.
TEST(Attention, TilesSkipTheMaskedTriangleWithoutChangingTheResult) {
  const int T = 7, hs = 3, ld = 5;  // row stride wider than hs, T not a multiple of the tile
  Rng rng(13);
  std::vector<double> q(T * ld), k(T * ld), v(T * ld), dy(T * hs);
  for (auto* a : {&q, &k, &v, &dy}) fill_normal(a->data(), a->size(), rng, 1.0);
  for (Visible mask : {Visible::UpToSelf, Visible::BeforeSelf})
    for (bool alias : {false, true}) {
      std::vector<double> y[2], dq[2], dk[2], dv[2];
      for (int run = 0; run < 2; ++run) {
        const int tile = run ? 2 : T;
        std::vector<double> probs(T * T), scratch(T * T);
        y[run].assign(T * hs, 0);
        dq[run].assign(T * ld, 0);
        dk[run].assign(T * ld, 0);
        dv[run].assign(T * ld, 0);
        const double* keys = alias ? q.data() : k.data();
        attention_forward(y[run].data(), hs, probs.data(), q.data(), keys, v.data(), ld, T, hs, 0.7, mask, tile);
        attention_backward(dq[run].data(), alias ? dq[run].data() : dk[run].data(), dv[run].data(), scratch.data(),
                           dy.data(), hs, probs.data(), q.data(), keys, v.data(), ld, T, hs, 0.7, mask, tile);
      }
      for (auto* pair : {y, dq, dk, dv})
        for (size_t i = 0; i < pair[0].size(); ++i) ASSERT_NEAR(pair[0][i], pair[1][i], 1e-12) << i;
      EXPECT_EQ(y[1][0] == 0.0, mask == Visible::BeforeSelf) << "the first row sees no key when the diagonal is excluded";
    }
}

}  // namespace
}  // namespace mosaic::testing
