// Float64 finite-difference checks of every layer's backward (every parameter and the input)
// and of both full models through the real loss, over a table of shapes; at each layer and
// shape, a second run with one gradient entry broken must fail. The shapes are
// tests/op_cases.hpp's; layers are built and run through tests/layer_harness.hpp. Not a test
// of the float kernels (test_kernels.cpp is).
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "gradcheck.hpp"
#include "kernels/attention.hpp"
#include "layer_harness.hpp"
#include "op_cases.hpp"
#include "tiny_model.hpp"

namespace mosaic::testing {
namespace {

// The shapes: tests/op_cases.hpp's gradient cases, each with its reason and probes.
using op_cases::GradCase;
using op_cases::kGradCaseCount;
using op_cases::kGradCases;
const Shape kBaseShape = op_cases::kBaseGradCase.shape;

// Passes intact, fails once `tensor` is broken, and the failure points at `tensor`.
void expect_check_passes_and_can_fail(const GradCheckResult& intact, const GradCheckResult& broken,
                                      const std::string& tensor) {
  EXPECT_GT(intact.checked, 0u);
  EXPECT_LT(intact.worst_error, kGradTolerance) << "worst at " << intact.worst_where;
  EXPECT_GT(broken.worst_error, kGradTolerance) << "not caught: " << broken.broken_entry << " broken";
  EXPECT_EQ(broken.worst_where.rfind(tensor + "[", 0), 0u)
      << "broke " << broken.broken_entry << ", worst at " << broken.worst_where;
}

// The gradient entry broken to show that a layer's check can fail: a per-head scalar, a bias or
// the input gradient, whichever the layer has.
std::string break_tensor(LayerKind kind, bool bias) {
  switch (kind) {
    case LayerKind::Linear: return bias ? "bias" : "x";
    case LayerKind::LayerNorm: return bias ? "bias" : "weight";
    case LayerKind::Embedding: return "weight";
    case LayerKind::TiedLmHead: return "wte";
    case LayerKind::TiedLmHeadChunked: return "x";
    case LayerKind::Mlp: return bias ? "c_fc.bias" : "x";
    case LayerKind::CausalSelfAttention: return bias ? "c_attn.bias" : "x";
    case LayerKind::KeyExtractorContextual: return "leaky_avg.leaky_key_beta";
    case LayerKind::KeyExtractorPersistent: return "key_scale";
    case LayerKind::ValueExtractor: return bias ? "coef" : "val_scale";
    case LayerKind::ContextualMemory: return bias ? "k_featurizer.leaky_avg.leaky_key_beta" : "v_featurizer.coef";
    case LayerKind::PersistentMemory: return "out_scale";
    case LayerKind::PersistentMemoryBanks: return bias ? "P_k" : "k_featurizer.leaky_avg.leaky_key_beta";
    case LayerKind::CausalSelfAttentionDropout: return "x";
    case LayerKind::ContextualMemoryDropout: return "v_featurizer.coef";
    case LayerKind::PersistentMemoryDropout: return "P_v";
    case LayerKind::KeyExtractorUpbound: return "leaky_avg.leaky_key_beta";
    case LayerKind::CausalSelfAttentionRope: return "c_attn.weight";
    case LayerKind::CausalSelfAttentionAlibi: return "x";
    case LayerKind::KeyExtractorGated: return bias ? "W_lambda.weight" : "W_g.weight";
    case LayerKind::ContextualMemoryLevels: return bias ? "short_term.bandwidth.alpha" : "long_term.k_featurizer.W_g.weight";
    case LayerKind::ContextualMemoryDrawn: return bias ? "long_term.bandwidth.beta1" : "short_term.v_featurizer.coef";
    case LayerKind::SwiGlu: return bias ? "w1.weight" : "w3.weight";
    case LayerKind::KeyExtractorFixedDecay: return bias ? "key_scale" : "W_k.weight";
  }
  return "";
}

// ---- every layer at every shape ----

struct LayerParam {
  LayerKind kind;
  size_t shape;
  bool bias;
};

std::vector<LayerParam> layer_params() {
  std::vector<LayerParam> params;
  for (int k = 0; k <= static_cast<int>(kLastLayerKind); ++k) {
    const auto kind = static_cast<LayerKind>(k);
    for (size_t s = 0; s < kGradCaseCount; ++s) {
      params.push_back({kind, s, true});
      if (has_bias_option(kind)) params.push_back({kind, s, false});
    }
  }
  return params;
}

std::string layer_param_name(const ::testing::TestParamInfo<LayerParam>& info) {
  const LayerParam& p = info.param;
  std::string name = std::string(layer_name(p.kind)) + "_" + kGradCases[p.shape].shape.name();
  if (has_bias_option(p.kind)) name += p.bias ? "_bias" : "_nobias";
  return name;
}

void PrintTo(const LayerParam& p, std::ostream* os) { *os << layer_param_name({p, 0}); }

class Layer : public ::testing::TestWithParam<LayerParam> {};

TEST_P(Layer, MatchesFiniteDifferencesAndABrokenEntryFails) {
  const LayerParam p = GetParam();
  const GradCase& sc = kGradCases[p.shape];
  auto layer = make_layer(p.kind, sc.shape, p.bias);
  const std::string broken = break_tensor(p.kind, p.bias);
  const LayerCheck r = check_layer(*layer, sc.layer_probes, broken);
  expect_check_passes_and_can_fail(r.intact, r.broken, broken);
}

INSTANTIATE_TEST_SUITE_P(Gradients, Layer, ::testing::ValuesIn(layer_params()), layer_param_name);

// ---- both models through the real loss ----

// variant "dropout": every dropout site at 0.2; "rope", "alibi": GPT's relative positions;
// "icll": StackAssoMem's options (config.hpp) with
// ic_dropout 0.1, hd_dropout 0.2 and a key-scale clamp low enough to bind on some heads.
ModelConfig tiny(const std::string& arch, const Shape& s, bool bias, const std::string& variant = "plain") {
  ModelConfig c = tiny_config(arch, {.vocab_size = 13, .block_size = s.T, .n_head = s.H, .n_embd = s.C, .pmem_size = 5});
  if (variant == "dropout") c.dropout = 0.2;
  if (variant == "rope" || variant == "alibi") c.pos_encoding = variant;
  if (variant.starts_with("v2")) {  // Memory Mosaics v2 at this T: h = 4, m drawn in [2, 5], 3 at inference
    c = with_v2(c, {.window = 4, .delay_min = 2, .delay_max = 5, .delay = 3});
    c.swiglu_hidden = 2 * s.C;
  }
  if (variant == "v2_ablations") {  // fixed beta, v1 keys, a fixed delay, v1's persistent memory
    c.adaptive_bandwidth = false;
    c.key_gate = false;
    c.long_term_delay_min = c.long_term_delay_max = 2;
    c.pmem_kind = "slots";
  }
  if (variant == "v2_short_only") c.long_term_delay_max = 0;
  if (variant == "fixed_decay") c.key_decay = 0.7;  // figure 15's frozen leaky average
  if (variant == "icll") {
    c.ic_dropout = 0.1;
    c.hd_dropout = 0.2;
    c.init = "fanin";
    c.scale_logits = true;
    c.kernel_beta_upbound = 1.2;
  }
  c.pmem_count = bias ? 1 : 2;
  c.bias = bias;
  return c;
}

// Tokens and targets (every fifth ignored) drawn from seed.
void draw_tokens(std::vector<int32_t>& idx, std::vector<int32_t>& targets, size_t n, int vocab, uint64_t seed) {
  Rng rng(seed);
  idx.resize(n);
  targets.resize(n);
  for (size_t i = 0; i < n; ++i) {
    idx[i] = static_cast<int32_t>(rng.below(vocab));
    targets[i] = i % 5 == 4 ? -1 : static_cast<int32_t>(rng.below(vocab));
  }
}

struct ModelParam {
  const char* arch;
  size_t shape;
  bool bias;
  const char* variant = "plain";
};

std::vector<ModelParam> model_params() {
  std::vector<ModelParam> params;
  for (const char* arch : {"mosaic", "gpt"})
    for (size_t s = 0; s < kGradCaseCount; ++s)
      for (bool bias : {true, false}) params.push_back({arch, s, bias});
  // dropout and the ICLL options: one token, tile and row-block edges, many rows
  for (size_t s : {0, 2, 6, 7}) {
    params.push_back({"mosaic", s, true, "dropout"});
    params.push_back({"gpt", s, false, "dropout"});
    params.push_back({"mosaic", s, false, "icll"});
  }
  for (size_t s : {0, 1, 2, 3, 5, 6, 7}) {  // Memory Mosaics v2 and its ablations
    params.push_back({"mosaic", s, s % 2 == 0, "v2"});
    params.push_back({"mosaic", s, s % 2 == 1, "v2_ablations"});
  }
  for (size_t s : {2, 6}) params.push_back({"mosaic", s, true, "v2_short_only"});
  for (size_t s : {1, 5}) params.push_back({"mosaic", s, s == 1, "fixed_decay"});
  for (size_t s : {0, 2, 4, 7}) {  // even head sizes
    params.push_back({"gpt", s, s % 2 == 0, "rope"});
    params.push_back({"gpt", s, s % 2 == 1, "alibi"});
  }
  return params;
}

std::string model_param_name(const ::testing::TestParamInfo<ModelParam>& info) {
  const ModelParam& p = info.param;
  const std::string variant = std::string(p.variant) == "plain" ? "" : std::string("_") + p.variant;
  return std::string(p.arch) + "_" + kGradCases[p.shape].shape.name() + (p.bias ? "_bias" : "_nobias") + variant;
}

void PrintTo(const ModelParam& p, std::ostream* os) { *os << model_param_name({p, 0}); }

class WholeModel : public ::testing::TestWithParam<ModelParam> {};

// At init the residual branches add ~1% to the stream and attention is near uniform, so the
// query and key paths carry gradients of ~1e-6, near the loss's rounding. Weight matrices
// (embeddings included) x 10 make every path count; per-head scalars and slots keep their init.
void widen_weights(ParamTable<double>& table) {
  for (const auto& e : table.entries())
    if (e.shape.size() == 2 && e.name.size() > 7 && e.name.compare(e.name.size() - 7, 7, ".weight") == 0)
      for (size_t i = 0; i < e.numel; ++i) table.value(e)[i] *= 10;
}

// Every parameter, the tied embedding included; the broken entry sits in the first block.
TEST_P(WholeModel, MatchesFiniteDifferencesAndABrokenEntryFails) {
  const ModelParam p = GetParam();
  const GradCase& sc = kGradCases[p.shape];
  const Shape& s = sc.shape;
  const ModelConfig config = tiny(p.arch, s, p.bias, p.variant);
  auto model = make_test_model(config, 7);
  if (config.init == "nanogpt") widen_weights(model->params());  // fanin's and v2's matrices are wide already
  model->set_dropout_key(99);
  std::vector<int32_t> idx, targets;
  draw_tokens(idx, targets, s.rows(), config.vocab_size, 8);
  auto loss = [&] { return model->forward(idx.data(), targets.data(), s.B, s.T); };
  auto grad = [&] {
    model->params().zero_grad();
    model->backward(1.0);
  };
  const std::string broken = config.arch == "gpt"        ? "transformer.h.0.attn.c_attn.weight"
                             : config.memory_levels()   ? "mosaic.h.0.attn.short_term.bandwidth.beta0"
                                                        : "mosaic.h.0.mlp.k_featurizer.leaky_avg.leaky_key_beta";
  // The head sums the rows' losses in double: rounding ~eps sqrt(rows) of the loss.
  GradCheckOptions options;
  options.max_per_tensor = sc.model_probes;
  options.loss_rounding = kRounding * std::sqrt(static_cast<double>(s.rows()));
  const auto params = param_targets(model->params());
  const GradCheckResult intact = gradcheck(loss, grad, params, options);
  options.break_tensor = broken;
  expect_check_passes_and_can_fail(intact, gradcheck(loss, grad, params, options), broken);
}

INSTANTIATE_TEST_SUITE_P(Gradients, WholeModel, ::testing::ValuesIn(model_params()), model_param_name);

// ---- single cases ----

TEST(Gradients, KeyExtractorClampedScaleHasZeroGradient) {
  auto layer = make_layer(LayerKind::KeyExtractorPersistent, kBaseShape, true);
  double* key_scale = value_of(layer->table, "key_scale");
  key_scale[0] = 0.9;  // 2 * 10 * 0.9 = 18 > ln 65535: clamped
  key_scale[1] = 0.1;
  Rng rng(3);
  fill_normal(value_of(layer->table, "W_k.weight"), kBaseShape.C * kBaseShape.C, rng, 0.5);
  std::vector<double> x(layer->in_size), dx(layer->in_size);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7 * i);
  const double* k = layer->forward(x.data());
  std::vector<double> dk(k, k + layer->out_size);  // loss = |k|^2 / 2
  layer->backward(dk.data(), dx.data());
  EXPECT_EQ(grad_of(layer->table, "key_scale")[0], 0.0);
  EXPECT_NE(grad_of(layer->table, "key_scale")[1], 0.0);
}

// StackAssoMem clamps 10 key_scale at kernel_beta_upbound and then raises to the power s;
// nanoMosaics clamps the whole exponent at ln 65535.
TEST(Gradients, KeyScaleClampsOfBothModels) {
  for (double upbound : {0.0, 5.0}) {
    KeyExtractor<double> keys(8, 2, false, {.scale_power = 2, .kernel_beta_upbound = upbound});
    ParamTable<double> table;
    keys.register_params(table, "");
    table.allocate();
    keys.key_scale.value[0] = 0.58;  // 10 kb = 5.8: past StackAssoMem's bound; 2 * 5.8 = 11.6 > ln 65535
    keys.key_scale.value[1] = 0.3;   // 10 kb = 3: inside both
    double decay[2], scale[2];
    keys.head_coefficients(decay, scale);
    EXPECT_NEAR(scale[0], upbound > 0 ? std::exp(10.0) : 65535.0, 1e-9 * scale[0]) << upbound;
    EXPECT_NEAR(scale[1], std::exp(6.0), 1e-9 * scale[1]) << upbound;
  }
}

// The checker must catch errors made inside a backward pass (not only the break it injects
// itself): a gradient off by 0.1% in one entry, and the leaky-average decay term dropped.
TEST(Gradients, CheckerCatchesWrongGradient) {
  auto linear = make_layer(LayerKind::Linear, kBaseShape, true);
  const auto linear_backward = linear->backward;
  double* weight_grad = grad_of(linear->table, "weight");
  linear->backward = [&](const double* dy, double* dx) {
    linear_backward(dy, dx);
    weight_grad[0] *= 1.001;
  };
  const auto off = check_layer(*linear, 40).intact;
  EXPECT_GT(off.worst_error, kGradTolerance);
  EXPECT_EQ(off.worst_where.rfind("weight[0]", 0), 0u) << off.worst_where;

  auto keys = make_layer(LayerKind::KeyExtractorContextual, kBaseShape, true);
  const auto keys_backward = keys->backward;
  double* beta_grad = grad_of(keys->table, "leaky_avg.leaky_key_beta");
  keys->backward = [&](const double* dy, double* dx) {
    keys_backward(dy, dx);
    for (int h = 0; h < kBaseShape.H; ++h) beta_grad[h] = 0;  // as if the decay's gradient were forgotten
  };
  const auto no_beta = check_layer(*keys, 40).intact;
  EXPECT_GT(no_beta.worst_error, kGradTolerance);
  EXPECT_EQ(no_beta.worst_where.rfind("leaky_avg.leaky_key_beta[", 0), 0u) << no_beta.worst_where;
}

// A fixed decay is the leaky average it names, and no parameter: with the identity as W_k and
// no key scale, kbar_t = x_t + lambda kbar_{t-1}, then normalised per head.
TEST(KeyExtractor, AFixedDecayIsTheAverageItNames) {
  const int C = 4, H = 2, T = 3;
  for (double lambda : {0.0, 0.5}) {
    KeyExtractor<double> keys(C, H, false, KeyOptions{.scaled = false, .fixed_decay = lambda});
    ParamTable<double> table;
    keys.register_params(table, "");
    table.allocate();
    EXPECT_EQ(table.find("leaky_avg.leaky_key_beta"), nullptr);
    EXPECT_EQ(table.entries().size(), 1u) << "W_k alone";
    for (int i = 0; i < C; ++i) keys.W_k.weight.value[i * C + i] = 1.0;
    Activations<double> acts;
    keys.plan(acts, "", 1, T);
    acts.allocate();
    const std::vector<double> x{1, 0, 0, 2, 0, 1, 3, 0, 2, 2, 1, 1};
    const double* k = keys.forward(x.data(), 1, T);
    std::vector<double> kbar(C, 0.0);
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < H; ++h) {
        double norm = 0;
        for (int c = h * 2; c < h * 2 + 2; ++c) {
          kbar[c] = x[t * C + c] + lambda * kbar[c];
          norm += kbar[c] * kbar[c];
        }
        for (int c = h * 2; c < h * 2 + 2; ++c) EXPECT_NEAR(k[t * C + c], kbar[c] / (std::sqrt(norm) + 1e-10), 1e-12);
      }
  }
}

// The three passes agree: a training forward, evaluate, and the cross-entropy recomputed from
// the logits of a pass without targets; only the last keeps logits, only the first backward.
TEST(Model, TrainingEvaluateAndLogitsPassesAgree) {
  const Shape& s = kBaseShape;
  for (const std::string arch : {"mosaic", "gpt"}) {
    const ModelConfig config = tiny(arch, s, false);
    auto model = make_test_model(config, 11);
    std::vector<int32_t> idx, targets;
    draw_tokens(idx, targets, s.rows(), config.vocab_size, 12);
    model->forward(idx.data(), nullptr, s.B, s.T);
    const int V = config.vocab_size;
    double expected = 0;
    int counted = 0;
    for (int64_t i = 0; i < s.rows(); ++i) {
      if (targets[i] < 0) continue;
      const double* z = model->logits() + i * V;
      double sum = 0;
      for (int j = 0; j < V; ++j) sum += std::exp(z[j]);
      expected += std::log(sum) - z[targets[i]];
      ++counted;
    }
    expected /= counted;
    EXPECT_NEAR(model->evaluate(idx.data(), targets.data(), s.B, s.T), expected, 1e-12) << arch;
    EXPECT_THROW(model->logits(), Error) << arch;
    EXPECT_THROW(model->backward(1.0), Error) << arch << ": evaluate prepares no gradient";
    EXPECT_NEAR(model->forward(idx.data(), targets.data(), s.B, s.T), expected, 1e-12) << arch;
    EXPECT_THROW(model->logits(), Error) << arch;
    model->backward(1.0);
    EXPECT_THROW(model->backward(1.0), Error) << arch << ": one backward per training forward";
  }
}

// Tiled attention (tiles of 2 query rows, each stopping at its last visible key) gives the
// untiled result (one tile), forward and backward, for both masks, with dq aliasing dk, with
// dropout and with ALiBi.
TEST(Attention, TilesSkipTheMaskedTriangleWithoutChangingTheResult) {
  const auto [T, hs, ld, tile_rows] = op_cases::kAttentionTileCase;  // ld > hs, T not a multiple of the tile
  Rng rng(13);
  std::vector<double> q(T * ld), k(T * ld), v(T * ld), dy(T * hs);
  for (auto* a : {&q, &k, &v, &dy}) fill_normal(a->data(), a->size(), rng, 1.0);
  Dropout drop(0.3, 5);
  drop.set_pass(77, true);
  for (Visible mask : {Visible::UpToSelf, Visible::BeforeSelf})
    for (bool alias : {false, true})
      for (const Dropout* d : {static_cast<const Dropout*>(nullptr), static_cast<const Dropout*>(&drop)})
        for (double alibi : {0.0, 0.25}) {
      std::vector<double> y[2], dq[2], dk[2], dv[2];
      for (int run = 0; run < 2; ++run) {
        const int tile = run ? tile_rows : T;
        std::vector<double> probs(T * T), scratch(T * T);
        y[run].assign(T * hs, 0);
        dq[run].assign(T * ld, 0);
        dk[run].assign(T * ld, 0);
        dv[run].assign(T * ld, 0);
        const double* keys = alias ? q.data() : k.data();
        const AttentionOptions<double> o{.alibi_slope = alibi, .drop = d, .slice = 3, .dropped = scratch.data(), .tile = tile};
        attention_forward(y[run].data(), hs, probs.data(), q.data(), keys, v.data(), ld, T, hs, 0.7, mask, o);
        attention_backward(dq[run].data(), alias ? dq[run].data() : dk[run].data(), dv[run].data(), scratch.data(),
                           dy.data(), hs, probs.data(), q.data(), keys, v.data(), ld, T, hs, 0.7, mask, o);
      }
      for (auto* pair : {y, dq, dk, dv})
        for (size_t i = 0; i < pair[0].size(); ++i) ASSERT_NEAR(pair[0][i], pair[1][i], 1e-12) << i;
      EXPECT_EQ(y[1][0] == 0.0, mask == Visible::BeforeSelf) << "the first row sees no key when the diagonal is excluded";
        }
}

}  // namespace
}  // namespace mosaic::testing
