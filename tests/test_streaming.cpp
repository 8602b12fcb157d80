// Streaming inference against the full forward: the Memory Mosaic stream (leaky states,
// look-ahead values, live stores) and the GPT KV cache reproduce model.forward at every
// position; past block_size the mosaic matches a model with block_size raised; eviction
// (oldest first = a window, checked on a naive float64 model; LRU on a hand-built store);
// the reference fixtures' greedy tokens. Shapes: logits (T, V).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <tuple>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "infer/generate.hpp"
#include "infer/stream.hpp"
#include "infer/vocab_head.hpp"
#include "kernels/attention.hpp"
#include "kernels/cpu_target.hpp"
#include "layers/memory_store.hpp"
#include "io/model_io.hpp"
#include "io/safetensors.hpp"
#include "models/factory.hpp"
#include "models/gpt.hpp"
#include "models/init.hpp"
#include "models/language_model.hpp"
#include "models/memory_mosaic.hpp"
#include "run_command.hpp"
#include "tiny_model.hpp"
#include "tokenizer_fixture.hpp"
#include "train/checkpoint.hpp"

namespace mosaic {
namespace {

using testing::with_v2;

// fp32 stream vs fp32 full forward: the same arithmetic in another order (row dots vs
// gemm), so differences are a few float ulps of the logits' scale; 1e-5 is the bar.
constexpr double kStreamTolerance = 1e-5;
// fp32 stream vs the float64 naive model below: float rounding through 2 layers (measured
// ~2e-7), held to the same bar.
constexpr double kNaiveTolerance = 1e-5;

ModelConfig mosaic_config(int heads, bool bias, int pmem_count, int block = 320) {
  ModelConfig c = testing::tiny_config("mosaic", {.vocab_size = 97, .block_size = block, .n_head = heads, .n_embd = 32, .pmem_size = 24});
  c.pmem_count = pmem_count;
  c.bias = bias;
  return c;
}

ModelConfig gpt_config(int heads, bool bias, int block) {
  ModelConfig c = mosaic_config(heads, bias, 1, block);
  c.arch = "gpt";
  return c;
}

template <class F = float>
std::unique_ptr<LanguageModel<F>> random_model(const ModelConfig& c, uint64_t seed) {
  auto model = make_model<F>(c);
  Rng rng(seed);
  init_parameters(model->params(), c, rng);
  // Biases start at 0 and the scalars at constants: randomise them so every term shows.
  auto& table = model->params();
  for (const auto& e : table.entries()) {
    F* p = table.value(e);
    const bool scalar = e.name.find("scale") != std::string::npos || e.name.find("beta") != std::string::npos;
    if (e.name.ends_with(".bias"))
      for (size_t i = 0; i < e.numel; ++i) p[i] = static_cast<F>(0.05 * rng.normal());
    else if (scalar)
      for (size_t i = 0; i < e.numel; ++i) p[i] += static_cast<F>(0.03 * rng.normal());
  }
  return model;
}

std::vector<int32_t> random_tokens(int n, int vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng.below(vocab));
  return t;
}

// A stream's layer states, read through the model's stream type.
const MemoryStore<float>& store_of(const TokenStream& s, int layer, int head) {
  using State = typename Decoder<float, MosaicBlock<float>>::Stream;
  return dynamic_cast<const State&>(s.state()).block(layer).mixer.levels.front().stores.at(head);
}
int gpt_window(const TokenStream& s) {
  using State = typename Decoder<float, GptBlock<float>>::Stream;
  return dynamic_cast<const State&>(s.state()).block(0).mixer.size;
}

// max |a - b| / max |b| over one row of logits.
template <class A, class B>
double rel_diff(const A* a, const B* b, int V) {
  double d = 0, scale = 0;
  for (int v = 0; v < V; ++v) {
    d = std::max(d, std::abs(static_cast<double>(a[v]) - static_cast<double>(b[v])));
    scale = std::max(scale, std::abs(static_cast<double>(b[v])));
  }
  return d / std::max(scale, 1e-30);
}

// Pushes tokens one at a time; returns the worst row difference against the full forward.
double stream_vs_forward(TokenStream& s, LanguageModel<float>& m, const std::vector<int32_t>& tokens) {
  const int T = static_cast<int>(tokens.size()), V = m.config().vocab_size;
  m.forward(tokens.data(), nullptr, 1, T);
  double worst = 0;
  s.reset();
  for (int t = 0; t < T; ++t) worst = std::max(worst, rel_diff(s.push(tokens[t]), m.logits() + int64_t(t) * V, V));
  return worst;
}

TEST(StreamingMosaic, MatchesFullForwardAtEveryPosition) {
  const struct { int heads; bool bias; int count; } cases[] = {{1, true, 1}, {2, false, 2}, {4, true, 2}, {4, false, 1}};
  const auto tokens = random_tokens(310, 97, 7);
  for (const auto& k : cases) {
    auto model = random_model(mosaic_config(k.heads, k.bias, k.count), 100 + k.heads);
    auto stream = make_stream(*model);
    EXPECT_LE(stream_vs_forward(*stream, *model, tokens), kStreamTolerance)
        << "heads " << k.heads << " bias " << k.bias << " pmem_count " << k.count;
  }
}

// The RegBench model's options (logits scale, fan-in init, key-scale clamp, dropout) stream
// as they train: dropout is off outside training passes, the rest is in the shared layers.
TEST(StreamingMosaic, TheIcllModelMatchesItsFullForward) {
  ModelConfig c = mosaic_config(4, false, 1);
  c.init = "fanin";
  c.scale_logits = true;
  c.kernel_beta_upbound = 1.1;  // the randomised key scales put some heads past it
  c.ic_dropout = 0.2;
  c.hd_dropout = 0.1;
  auto model = random_model(c, 17);
  auto stream = make_stream(*model);
  EXPECT_LE(stream_vs_forward(*stream, *model, random_tokens(200, 97, 5)), kStreamTolerance);
  c.arch = "gpt";
  c.dropout = 0.1;
  auto gpt = random_model(c, 18);
  auto gpt_stream = make_stream(*gpt);
  EXPECT_LE(stream_vs_forward(*gpt_stream, *gpt, random_tokens(200, 97, 6)), kStreamTolerance);
}

TEST(StreamingMosaic, PromptChunksGiveTheSameStateAsSingleTokens) {
  auto model = random_model(mosaic_config(2, true, 1), 3);
  const auto tokens = random_tokens(200, 97, 8);
  const int V = 97;
  model->forward(tokens.data(), nullptr, 1, 200);
  for (int prompt : {1, 2, 63, 64, 65, 150}) {
    auto s = make_stream(*model);
    EXPECT_LE(rel_diff(s->push_many(tokens.data(), prompt), model->logits() + int64_t(prompt - 1) * V, V),
              kStreamTolerance) << prompt;
    double worst = 0;
    for (int t = prompt; t < 200; ++t) worst = std::max(worst, rel_diff(s->push(tokens[t]), model->logits() + int64_t(t) * V, V));
    EXPECT_LE(worst, kStreamTolerance) << prompt;
    EXPECT_EQ(s->position(), 200);
  }
}

// Every layer's step against its forward, in float64 where only the order of the sums differs:
// the model's own stream (no vocabulary head) fed in chunks of uneven sizes, each chunk's last
// position against the full forward's logits, for every architecture and option.
constexpr double kFloat64StreamTolerance = 1e-11;

double float64_stream_vs_forward(const ModelConfig& c, int T, std::initializer_list<int> chunks, int max_rows) {
  auto model = random_model<double>(c, 77);
  const auto tokens = random_tokens(T, c.vocab_size, 78);
  const int V = c.vocab_size, C = c.n_embd;
  model->forward(tokens.data(), nullptr, 1, T);
  StreamSettings settings;
  settings.max_rows = max_rows;
  auto stream = model->start_stream(settings);
  const double* wte = model->embedding_weight();
  double worst = 0;
  std::vector<double> logits(V);
  for (int t = 0, i = 0; t < T; ++i) {
    const int n = std::min(chunks.begin()[i % chunks.size()], T - t);
    const double* x = stream->advance(tokens.data() + t, n);
    t += n;
    for (int v = 0; v < V; ++v) {
      logits[v] = 0;
      for (int k = 0; k < C; ++k) logits[v] += wte[int64_t(v) * C + k] * x[k];
    }
    worst = std::max(worst, rel_diff(logits.data(), model->logits() + int64_t(t - 1) * V, V));
  }
  EXPECT_EQ(stream->position(), T);
  return worst;
}

// Every architecture and option the streams run: v1 (1 and 4 heads, 2 persistent banks), the
// ICLL model, a fixed decay, v2 and its ablations, GPT with each position encoding.
std::vector<std::pair<std::string, ModelConfig>> stream_cases() {
  std::vector<std::pair<std::string, ModelConfig>> cases;
  for (int heads : {1, 4}) cases.emplace_back("mosaic", mosaic_config(heads, heads == 1, heads == 4 ? 2 : 1));
  ModelConfig icll = mosaic_config(4, false, 1);
  icll.init = "fanin";
  icll.scale_logits = true;
  icll.kernel_beta_upbound = 1.1;
  icll.ic_dropout = 0.2;
  icll.hd_dropout = 0.1;
  cases.emplace_back("icll", icll);
  ModelConfig fixed_decay = mosaic_config(4, true, 1);
  fixed_decay.key_decay = 0.8;
  cases.emplace_back("fixed key decay", fixed_decay);
  for (const std::string variant : {"v2", "v2 ablations", "v2 short-term only"}) {  // Memory Mosaics v2
    ModelConfig v2 = with_v2(mosaic_config(4, variant == "v2", 1), {.delay_max = variant == "v2 short-term only" ? 0 : 12});
    if (variant != "v2") v2.pmem_kind = "slots";
    v2.adaptive_bandwidth = v2.key_gate = variant == "v2";
    cases.emplace_back(variant, v2);
  }
  for (const std::string pos : {"learned", "rope", "alibi"}) {
    ModelConfig g = gpt_config(pos == "rope" ? 4 : 2, pos != "alibi", 128);
    g.pos_encoding = pos;
    g.dropout = 0.1;
    cases.emplace_back("gpt " + pos, g);
  }
  return cases;
}

TEST(Streaming, EveryLayerStepEqualsItsForwardInFloat64) {
  for (const auto& [name, c] : stream_cases()) {
    EXPECT_LE(float64_stream_vs_forward(c, 120, {1, 5, 13, 1, 64, 2}, 16), kFloat64StreamTolerance) << name;
    EXPECT_LE(float64_stream_vs_forward(c, 120, {1}, 1), kFloat64StreamTolerance) << name << ", one row per step";
  }
}

// Streams stepped together (advance_streams: every layer over all their rows at once) end
// where each stream's own advance leaves it, bit for bit, whichever streams step beside it: a
// different subset at every step, the streams at different positions, more of them than one
// step's rows (max_rows 3: the step splits), GPT windows sliding on their own.
TEST(Streaming, StreamsSteppedTogetherEqualEachAlone) {
  for (const auto& [name, c] : stream_cases()) {
    auto model = random_model(c, 41);
    StreamSettings settings;
    settings.max_rows = 3;
    const int count = 5, C = c.n_embd;
    std::vector<std::unique_ptr<ModelStream<float>>> alone, together;
    for (int i = 0; i < count; ++i) {
      const auto prompt = random_tokens(1 + 29 * i, c.vocab_size, 50 + i);  // up to 117: GPT windows of 128 slide
      for (auto* set : {&alone, &together}) {
        set->push_back(model->start_stream(settings));
        set->back()->advance(prompt.data(), static_cast<int>(prompt.size()));
      }
    }
    Rng rng(9);
    int steps_together = 0;
    for (int step = 0; step < 24; ++step) {
      std::vector<ModelStream<float>*> chosen;
      std::vector<int32_t> tokens;
      std::vector<int> which;
      for (int i = 0; i < count; ++i)
        if ((step + i) % 3 != 0 || step % 5 == 0) {
          which.push_back(i);
          chosen.push_back(together[i].get());
          tokens.push_back(static_cast<int32_t>(rng.below(c.vocab_size)));
        }
      model->advance_streams(chosen, tokens.data());
      steps_together += static_cast<int>(chosen.size());
      for (size_t j = 0; j < which.size(); ++j) {
        const int i = which[j];
        const float* mine = alone[i]->advance(&tokens[j], 1);
        ASSERT_EQ(together[i]->position(), alone[i]->position()) << name;
        ASSERT_EQ(std::memcmp(together[i]->features(), mine, C * sizeof(float)), 0)
            << name << ": stream " << i << " at step " << step << " among " << chosen.size();
      }
    }
    EXPECT_GT(steps_together, 24 * 3) << name;
    // A bad token or another model's stream: an Error, and nothing is fed.
    std::vector<ModelStream<float>*> all;
    for (auto& s : together) all.push_back(s.get());
    std::vector<int32_t> tokens(count, 1);
    tokens[3] = c.vocab_size;
    const int64_t before = all[0]->position();
    EXPECT_THROW(model->advance_streams(all, tokens.data()), Error) << name;
    EXPECT_EQ(all[0]->position(), before) << name;
    auto other = random_model(c, 42);
    auto foreign = other->start_stream(settings);
    all[1] = foreign.get();
    tokens[3] = 1;
    EXPECT_THROW(model->advance_streams(all, tokens.data()), Error) << name;
    all[1] = all[2];
    EXPECT_THROW(model->advance_streams(all, tokens.data()), Error) << name << ": a stream twice";
  }
}

// Past block_size the stream is the natural extension: what a model with a larger
// block_size computes over the whole sequence.
TEST(StreamingMosaic, RunsPastBlockSize) {
  auto small = random_model(mosaic_config(2, false, 1, /*block=*/16), 5);
  auto large = with_block_size(*small, 300);
  auto stream = make_stream(*small);
  EXPECT_LE(stream_vs_forward(*stream, *large, random_tokens(300, 97, 9)), kStreamTolerance);
  auto small_v2 = random_model(with_v2(mosaic_config(2, false, 1, /*block=*/16), {.delay = 4}), 6);  // v2, trained at 16
  auto stream_v2 = make_stream(*small_v2);
  EXPECT_LE(stream_vs_forward(*stream_v2, *with_block_size(*small_v2, 300), random_tokens(300, 97, 10)), kStreamTolerance);
  for (Eviction e : {Eviction::Oldest, Eviction::LeastRecentlyUsed}) {  // and with a bound
    StreamOptions o;
    o.memory = {8, e, 0.05f};
    TokenStream bounded(*small, o);
    for (int t = 0; t < 300; ++t) {
      const float* logits = bounded.push(static_cast<int32_t>(t % 97));
      ASSERT_TRUE(std::isfinite(logits[0]));
    }
    EXPECT_EQ(store_of(bounded, 1, 1).size(), 8);
  }
}

// ---- a naive float64 Memory Mosaic whose memories see at most `window` recent pairs ----

struct Naive {
  const ParamTable<float>& p;
  const ModelConfig& c;
  int T;
  using Mat = std::vector<double>;  // (T, C) row-major unless said otherwise

  const float* get(const std::string& name) const { return p.value(*p.find(name)); }
  Mat linear(const Mat& x, const std::string& pre, int out, int in) const {
    const float* w = get(pre + "weight");
    Mat y(static_cast<size_t>(T) * out);
    for (int t = 0; t < T; ++t)
      for (int o = 0; o < out; ++o) {
        double s = c.bias ? get(pre + "bias")[o] : 0;
        for (int i = 0; i < in; ++i) s += x[t * in + i] * w[o * in + i];
        y[t * out + o] = s;
      }
    return y;
  }
  Mat layernorm(const Mat& x, const std::string& pre) const {
    const int C = c.n_embd;
    Mat y(x.size());
    for (int t = 0; t < T; ++t) {
      double m = 0, v = 0;
      for (int i = 0; i < C; ++i) m += x[t * C + i] / C;
      for (int i = 0; i < C; ++i) v += (x[t * C + i] - m) * (x[t * C + i] - m) / C;
      for (int i = 0; i < C; ++i)
        y[t * C + i] = (x[t * C + i] - m) / std::sqrt(v + 1e-5) * get(pre + "weight")[i] + (c.bias ? get(pre + "bias")[i] : 0);
    }
    return y;
  }
  // Per head: optional leaky scan, then Norm(.) * exp(log_scale_h).
  void features(Mat& x, const float* beta, const std::vector<double>& log_scale) const {
    const int C = c.n_embd, hs = c.head_size();
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < c.n_head; ++h) {
        double* r = &x[t * C + h * hs];
        if (beta && t > 0)
          for (int d = 0; d < hs; ++d) r[d] += std::exp(-10 * std::abs(double(beta[h]))) * r[d - C];
      }
    Mat out = x;
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < c.n_head; ++h) {
        double n = 0;
        for (int d = 0; d < hs; ++d) n += x[t * C + h * hs + d] * x[t * C + h * hs + d];
        for (int d = 0; d < hs; ++d) out[t * C + h * hs + d] = x[t * C + h * hs + d] / (std::sqrt(n) + 1e-10) * std::exp(log_scale[h]);
      }
    x = out;
  }
  Mat keys(const Mat& a, const std::string& pre, int s) const {
    Mat k = linear(a, pre + "W_k.", c.n_embd, c.n_embd);
    std::vector<double> ls;
    for (int h = 0; h < c.n_head; ++h) ls.push_back(std::min(s * 10.0 * get(pre + "key_scale")[h], std::log(65535.0)));
    features(k, get(pre + "leaky_avg.leaky_key_beta"), ls);
    return k;
  }
  // Softmax retrieval of query rows over key/value rows [lo, hi).
  void retrieve(double* y, const double* q, const double* K, const double* Vv, int lo, int hi, int stride, int hs) const {
    if (hi <= lo) return;
    std::vector<double> s;
    for (int i = lo; i < hi; ++i) {
      double d = 0;
      for (int j = 0; j < hs; ++j) d += q[j] * K[i * stride + j];
      s.push_back(d);
    }
    const double mx = *std::max_element(s.begin(), s.end());
    double sum = 0;
    for (double& x : s) sum += (x = std::exp(x - mx));
    for (int i = lo; i < hi; ++i)
      for (int j = 0; j < hs; ++j) y[j] += s[i - lo] / sum * Vv[i * stride + j];
  }
  std::vector<double> logits(const std::vector<int32_t>& tok, int window) const {
    const int C = c.n_embd, H = c.n_head, hs = c.head_size(), P = c.pmem_size;
    Mat x(static_cast<size_t>(T) * C);
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < C; ++i) x[t * C + i] = get("mosaic.wte.weight")[tok[t] * C + i];
    for (int l = 0; l < c.n_layer; ++l) {
      const std::string pre = "mosaic.h." + std::to_string(l) + ".";
      Mat a = layernorm(x, pre + "ln_1.");
      Mat k = keys(a, pre + "attn.k_featurizer.", 1);
      Mat vt = linear(a, pre + "attn.v_featurizer.W_v.", C, C), v = vt;
      const float* coef = get(pre + "attn.v_featurizer.coef");
      for (int t = 0; t < T; ++t)
        for (int i = 0; i < C; ++i) v[t * C + i] = (1 - coef[i / hs]) * (t + 1 < T ? vt[(t + 1) * C + i] : 0) + coef[i / hs] * vt[t * C + i];
      std::vector<double> vs;
      for (int h = 0; h < H; ++h) vs.push_back(10.0 * get(pre + "attn.v_featurizer.val_scale")[h]);
      features(v, nullptr, vs);
      Mat y(x.size());
      for (int t = 0; t < T; ++t)
        for (int h = 0; h < H; ++h)
          retrieve(&y[t * C + h * hs], &k[t * C + h * hs], &k[h * hs], &v[h * hs], window ? std::max(0, t - window) : 0, t, C, hs);
      Mat o = linear(y, pre + "attn.c_proj.", C, C);
      for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
      a = layernorm(x, pre + "ln_2.");
      Mat kp = keys(a, pre + "mlp.k_featurizer.", 2);
      std::fill(y.begin(), y.end(), 0.0);
      for (int b = 0; b < c.pmem_count; ++b)
        for (int h = 0; h < H; ++h) {
          std::vector<double> pk(P * hs), pv(P * hs);
          for (int i = 0; i < P * hs; ++i) {
            pk[i] = get(pre + "mlp.P_k")[(b * H + h) * P * hs + i];
            pv[i] = get(pre + "mlp.P_v")[(b * H + h) * P * hs + i];
          }
          for (int t = 0; t < T; ++t) retrieve(&y[t * C + h * hs], &kp[t * C + h * hs], pk.data(), pv.data(), 0, P, hs, hs);
        }
      for (int t = 0; t < T; ++t)
        for (int i = 0; i < C; ++i) y[t * C + i] *= std::exp(10.0 * get(pre + "mlp.out_scale")[i / hs]) / c.pmem_count;
      o = linear(y, pre + "mlp.c_proj.", C, C);
      for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    }
    x = layernorm(x, "mosaic.ln_f.");
    std::vector<double> out(static_cast<size_t>(T) * c.vocab_size);
    for (int t = 0; t < T; ++t)
      for (int v = 0; v < c.vocab_size; ++v) {
        double s = 0;
        for (int i = 0; i < C; ++i) s += x[t * C + i] * get("mosaic.wte.weight")[v * C + i];
        out[t * c.vocab_size + v] = s;
      }
    return out;
  }
};

// Oldest-first eviction with N pairs is attention over the last N positions.
TEST(StreamingMosaic, OldestFirstIsAWindowOverTheLastPairs) {
  auto model = random_model(mosaic_config(2, true, 2), 11);
  const auto tokens = random_tokens(120, 97, 12);
  const Naive naive{model->params(), model->config(), 120};
  const int V = 97;
  for (int window : {0, 10}) {
    const auto ref = naive.logits(tokens, window);
    StreamOptions o;
    o.memory = {window, Eviction::Oldest, 0.01f};
    TokenStream s(*model, o);
    double worst = 0;
    for (int t = 0; t < 120; ++t) worst = std::max(worst, rel_diff(s.push(tokens[t]), ref.data() + int64_t(t) * V, V));
    EXPECT_LE(worst, kNaiveTolerance) << "window " << window;
    if (window) {  // the stored positions are exactly the last N
      const MemoryStore<float>& st = store_of(s, 0, 1);
      std::vector<int64_t> kept;
      for (int i = 0; i < st.size(); ++i) kept.push_back(st.position_of(i));
      std::sort(kept.begin(), kept.end());
      std::vector<int64_t> expect;
      for (int64_t p = 119 - window; p < 119; ++p) expect.push_back(p);
      EXPECT_EQ(kept, expect);
    }
  }
}

// A store of 3 pairs in 2-d: the query hits the oldest pair only, so LRU evicts the second
// pair while oldest-first evicts the first.
std::vector<int64_t> positions_after_eviction(Eviction policy, float threshold) {
  MemoryStore<float> store(2, {3, policy, threshold});
  const float keys[4][2] = {{10, 0}, {0, 10}, {0, -10}, {-10, 0}}, value[2] = {1, 2};
  float y[2];
  for (int t = 0; t < 3; ++t) store.add(keys[t], value, t);
  store.query(keys[0], y, 3);  // weight ~1 on pair 0, ~e^-100 on the others
  EXPECT_NEAR(store.weights()[0], 1.0f, 1e-6f);
  store.add(keys[3], value, 3);
  std::vector<int64_t> kept;
  for (int i = 0; i < store.size(); ++i) kept.push_back(store.position_of(i));
  std::sort(kept.begin(), kept.end());
  return kept;
}

TEST(MemoryStore, LeastRecentlyUsedEvictsUnusedPairsFirst) {
  EXPECT_EQ(positions_after_eviction(Eviction::LeastRecentlyUsed, 0.01f), (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(positions_after_eviction(Eviction::Oldest, 0.01f), (std::vector<int64_t>{1, 2, 3}));
  // nothing counts as used above weight 1: LRU falls back to insertion order
  EXPECT_EQ(positions_after_eviction(Eviction::LeastRecentlyUsed, 1.0f), (std::vector<int64_t>{1, 2, 3}));
}

TEST(MemoryStore, RetrievalIsSoftmaxOverTheKeptPairs) {
  MemoryStore<float> store(2, {2, Eviction::Oldest, 0.01f});
  float y[2];
  store.query(std::vector<float>{1, 0}.data(), y, 0);
  EXPECT_EQ(y[0], 0.0f);  // empty store: y_0 = 0
  const float k[3][2] = {{5, 5}, {1, 0}, {0, 1}}, v[3][2] = {{100, 100}, {1, 0}, {0, 1}};
  for (int t = 0; t < 3; ++t) store.add(k[t], v[t], t);  // the first pair is evicted
  const float q[2] = {2, 0};
  store.query(q, y, 3);
  const double a = std::exp(2.0), b = std::exp(0.0);  // scores 2 and 0
  EXPECT_NEAR(y[0], a / (a + b), 1e-6);
  EXPECT_NEAR(y[1], b / (a + b), 1e-6);
  EXPECT_THROW(parse_eviction("fifo"), Error);
  EXPECT_EQ(parse_eviction("lru"), Eviction::LeastRecentlyUsed);
}

// A chunk of queries read together (MemoryStore::query_rows: the products on gemm) against the
// same queries read one by one as their pairs arrive: the same retrievals and last weights, the
// same uses recorded (the LRU store then evicts the same pairs), in float64 and float.
template <class F>
void rows_together_vs_one_by_one(double tolerance) {
  const int hs = 8, before = 5, rows = 12;
  Rng rng(31);
  auto draw = [&](int n) {
    std::vector<F> x(static_cast<size_t>(n) * hs);
    for (auto& e : x) e = static_cast<F>(rng.uniform() * 2 - 1);
    return x;
  };
  const auto keys = draw(before + rows), values = draw(before + rows), queries = draw(rows);
  const int added[rows] = {0, 1, 1, 2, 4, 4, 5, 6, 7, 9, 11, 12};  // pairs stored by each query
  for (const MemoryLimit limit : {MemoryLimit{}, MemoryLimit{before + rows, Eviction::LeastRecentlyUsed, 0.05f}}) {
    SCOPED_TRACE(describe_limit(limit));
    MemoryStore<F> together(hs, limit), alone(hs, limit);
    for (int i = 0; i < before; ++i)
      for (auto* st : {&together, &alone}) st->add(&keys[i * hs], &values[i * hs], i);
    ASSERT_TRUE(together.reads_prefixes(rows));
    std::vector<int> counts(rows);
    std::vector<F> betas(rows), y(static_cast<size_t>(rows) * hs), expect(y.size());
    for (int i = 0; i < rows; ++i) {
      counts[i] = before + added[i];
      betas[i] = static_cast<F>(0.5 + 0.25 * (i % 3));
    }
    for (int i = 0; i < rows; ++i) {
      for (int p = i ? added[i - 1] : 0; p < added[i]; ++p) alone.add(&keys[(before + p) * hs], &values[(before + p) * hs], before + p);
      alone.query(&queries[i * hs], &expect[i * hs], before + i, betas[i]);
    }
    for (int p = 0; p < rows; ++p) together.add(&keys[(before + p) * hs], &values[(before + p) * hs], before + p);
    together.query_rows(queries.data(), hs, y.data(), hs, counts.data(), betas.data(), rows, before);
    for (size_t e = 0; e < y.size(); ++e) ASSERT_NEAR(y[e], expect[e], tolerance) << "entry " << e;
    for (int j = 0; j < together.size(); ++j) ASSERT_NEAR(together.weights()[j], alone.weights()[j], tolerance) << "weight " << j;
    for (int p = 0; p < 6; ++p) {  // full: each new pair evicts by the policy
      const auto k = draw(1);
      for (auto* st : {&together, &alone}) st->add(k.data(), k.data(), 100 + p);
    }
    std::vector<int64_t> kept_together, kept_alone;
    for (int j = 0; j < together.size(); ++j) {
      kept_together.push_back(together.position_of(j));
      kept_alone.push_back(alone.position_of(j));
    }
    EXPECT_EQ(kept_together, kept_alone);
    if (limit.max_pairs) {
      EXPECT_FALSE(together.reads_prefixes(1)) << "a full store evicts";
    }
  }
  if constexpr (std::is_same_v<F, float>) {  // an approximate store reads prefixes only while it reads exactly
    RetrievalOptions approx;
    approx.backend = MemoryBackend::Approximate;
    approx.min_pairs = 10;
    approx.top_k = 4;
    MemoryStore<F> store(hs, {}, approx);
    EXPECT_TRUE(store.reads_prefixes(9));
    EXPECT_FALSE(store.reads_prefixes(10));
  }
}

TEST(MemoryStore, RowsReadTogetherEqualRowsReadOneByOne) {
  rows_together_vs_one_by_one<double>(1e-12);
  rows_together_vs_one_by_one<float>(2e-6);
}

// The chunk kernel's tiles: a budget of one row, of a few rows and of all of them give each
// row what attention_row gives it.
TEST(MemoryStore, ChunkReadsAreTheSameInTilesOfAnySize) {
  const int hs = 4, n = 40, rows = 7;
  Rng rng(5);
  std::vector<double> keys(n * hs), values(n * hs), q(rows * hs), scales(rows);
  for (auto* v : {&keys, &values, &q})
    for (auto& e : *v) e = rng.uniform() * 2 - 1;
  const int counts[rows] = {0, 3, 3, 10, 25, 39, 40};
  for (int r = 0; r < rows; ++r) scales[r] = 0.5 + 0.1 * r;
  std::vector<double> expect(rows * hs), weights(n);
  for (int r = 0; r < rows; ++r)
    attention_row(&expect[r * hs], weights.data(), &q[r * hs], keys.data(), values.data(), counts[r], hs, scales[r]);
  for (int64_t budget : {40, 120, 280}) {
    std::vector<double> y(rows * hs, 99.0), scratch(budget);
    attention_prefix_rows(y.data(), hs, scratch.data(), budget, q.data(), hs, keys.data(), values.data(), counts,
                          scales.data(), rows, hs, [](int, const double*, int) {});
    for (int e = 0; e < rows * hs; ++e) ASSERT_NEAR(y[e], expect[e], 1e-12) << "budget " << budget << ", entry " << e;
  }
}

// A store with more pairs than one tile's budget of scores (2^18) still reads a chunk: the
// scratch holds one row whatever the store's size.
TEST(MemoryStore, AChunkReadsAStoreLargerThanItsScoreBudget) {
  const int hs = 2, n = (1 << 18) + 100, rows = 3;
  MemoryStore<float> store(hs, {});
  Rng rng(6);
  std::vector<float> keys(static_cast<size_t>(n) * hs), values(keys.size());
  for (int i = 0; i < n; ++i) {
    for (int d = 0; d < hs; ++d) {
      keys[i * hs + d] = static_cast<float>(rng.uniform() * 2 - 1);
      values[i * hs + d] = static_cast<float>(rng.uniform() * 2 - 1);
    }
    store.add(&keys[i * hs], &values[i * hs], i);
  }
  const std::vector<float> q = {0.3f, -0.2f, 1.0f, 0.5f, -0.7f, 0.1f}, betas = {1, 1, 1};
  const std::vector<int> counts = {n - 50, n - 10, n};
  std::vector<float> y(rows * hs), expect(rows * hs), weights(n);
  store.query_rows(q.data(), hs, y.data(), hs, counts.data(), betas.data(), rows, n);
  for (int r = 0; r < rows; ++r)
    attention_row(&expect[r * hs], weights.data(), &q[r * hs], keys.data(), values.data(), counts[r], hs, 1.0f);
  for (int e = 0; e < rows * hs; ++e) EXPECT_NEAR(y[e], expect[e], 1e-5) << e;
}

// A prompt fed whole (push_many: chunks of rows, the memories' reads on gemm where the store
// allows) against the same tokens pushed one at a time, for every Memory Mosaic variant and
// memory setting: the same logits after the prompt and along the continuation, up to rounding.
TEST(StreamingMosaic, APromptFedWholeEqualsItsTokensPushedOneByOne) {
  const auto prompt = random_tokens(150, 97, 21), after = random_tokens(20, 97, 22);
  struct Memory { std::string name; MemoryLimit limit; RetrievalOptions retrieval; };
  RetrievalOptions approx;
  approx.backend = MemoryBackend::Approximate;
  approx.min_pairs = 100;  // exact through the first chunks, approximate after
  approx.top_k = 8;
  const Memory memories[] = {{"unbounded", {}, {}},
                             {"oldest 100", {100, Eviction::Oldest, 0.01f}, {}},
                             {"lru 40", {40, Eviction::LeastRecentlyUsed, 0.01f}, {}},
                             {"approximate", {}, approx}};
  for (const auto& [name, c] : stream_cases()) {
    if (c.arch != "mosaic") continue;
    auto model = random_model(c, 23);
    for (const Memory& m : memories) {
      SCOPED_TRACE(name + ", " + m.name);
      StreamOptions o;
      o.memory = m.limit;
      o.retrieval = m.retrieval;
      TokenStream whole(*model, o), single(*model, o);
      whole.push_many(prompt.data(), static_cast<int>(prompt.size()));
      const float* one_by_one = nullptr;
      for (int32_t t : prompt) one_by_one = single.push(t);
      EXPECT_LE(rel_diff(whole.last_logits(), one_by_one, 97), kStreamTolerance);
      double worst = 0;  // each stream's logits are its own buffer
      for (int32_t t : after) worst = std::max(worst, rel_diff(whole.push(t), single.push(t), 97));
      EXPECT_LE(worst, kStreamTolerance);
      EXPECT_EQ(whole.position(), single.position());
    }
  }
}

TEST(StreamingGpt, MatchesFullForwardWithinTheWindow) {
  for (int heads : {1, 2, 4})
    for (bool bias : {true, false}) {
      auto model = random_model(gpt_config(heads, bias, 96), 20 + heads);
      auto stream = make_stream(*model);
      EXPECT_LE(stream_vs_forward(*stream, *model, random_tokens(96, 97, 13)), kStreamTolerance)
          << "heads " << heads << " bias " << bias;
    }
}

// Relative positions stream as they train, and past block_size the window drops its oldest
// entries without re-encoding: still finite, and the kept entries' keys are untouched.
TEST(StreamingGpt, RopeAndAlibiMatchTheFullForwardAndRunPastTheirBlock) {
  for (const std::string pos : {"rope", "alibi"})
    for (int heads : {1, 2, 4}) {
      ModelConfig c = gpt_config(heads, heads != 2, 96);
      c.pos_encoding = pos;
      auto model = random_model(c, 40 + heads);
      auto stream = make_stream(*model);
      EXPECT_LE(stream_vs_forward(*stream, *model, random_tokens(96, 97, 14)), kStreamTolerance) << pos << " heads " << heads;
      stream->reset();
      const auto tokens = random_tokens(300, 97, 15);
      const float* logits = stream->push_many(tokens.data(), static_cast<int>(tokens.size()));
      for (int v = 0; v < 97; ++v) ASSERT_TRUE(std::isfinite(logits[v])) << pos;
      EXPECT_EQ(stream->position(), 300);
    }
}

// A GPT stream with --gpt-keep `keep` fed `tokens` one at a time, each position against a full
// forward over the tokens the window rule says it holds (full at block_size: keep the newest
// `keep`, block_size / 2 for 0); also checks the cache holds that many. Returns the worst row.
double window_rule_vs_forward(LanguageModel<float>& model, int keep, const std::vector<int32_t>& tokens) {
  const int block = model.config().block_size, V = model.config().vocab_size;
  StreamOptions o;
  o.gpt_keep = keep;
  TokenStream s(model, o);
  const int kept = keep > 0 ? keep : block / 2;
  std::vector<int32_t> window;
  double worst = 0;
  for (int32_t token : tokens) {
    if (static_cast<int>(window.size()) == block) window.erase(window.begin(), window.end() - kept);
    window.push_back(token);
    const float* logits = s.push(token);
    model.forward(window.data(), nullptr, 1, static_cast<int>(window.size()));
    worst = std::max(worst, rel_diff(logits, model.logits() + int64_t(window.size() - 1) * V, V));
    EXPECT_EQ(gpt_window(s), static_cast<int>(window.size()));
  }
  return worst;
}

// With relative positions a full window drops all but its newest `keep` entries, which stay
// as they were computed. In one layer an entry depends only on its token and position, and
// scores only on position differences: each position equals a fresh forward over the tokens
// the window holds, a check of the dropped entries, the kept ones and the rows' positions.
TEST(StreamingGpt, RelativePositionsDropTheOldestEntries) {
  const int block = 16, V = 97;
  for (const std::string pos : {"rope", "alibi"})
    for (int keep : {0, 5}) {
      ModelConfig c = gpt_config(2, true, block);
      c.n_layer = 1;
      c.pos_encoding = pos;
      auto model = random_model(c, 31);
      const double worst = window_rule_vs_forward(*model, keep, random_tokens(70, V, 16));
      EXPECT_LE(worst, kStreamTolerance) << pos << " keep " << keep;
    }
}

// keep = block_size - 1 re-encodes the window for every token: exactly the reference's
// crop-to-block_size recompute. The default keep conditions on the re-encoded tail.
TEST(StreamingGpt, SlidingWindowReencodesTheTail) {
  const int block = 16, V = 97;
  auto model = random_model(gpt_config(2, true, block), 30);
  const auto tokens = random_tokens(60, V, 14);
  for (int keep : {block - 1, 0}) {
    const double worst = window_rule_vs_forward(*model, keep, tokens);
    EXPECT_LE(worst, kStreamTolerance) << "keep " << keep;
  }
}

TEST(Streaming, BadInputIsAnError) {
  auto mosaic = random_model(mosaic_config(2, true, 1, 16), 1);
  auto s = make_stream(*mosaic);
  EXPECT_THROW(s->push(97), Error);
  EXPECT_THROW(s->push(-1), Error);
  EXPECT_THROW(s->push_many(nullptr, 0), Error);
  auto gpt = random_model(gpt_config(2, true, 16), 1);
  StreamOptions o;
  o.gpt_keep = 16;
  EXPECT_THROW(make_stream(*gpt, o), Error);
}

// bf16 head against fp32, on rows built to nearly tie (pairs of rows 1e-4 apart, far below
// bf16's resolution): the largest logit is fp32's bit for bit, every logit within the bound
// of it is exact, and the rest are within the bound. V = 101 exercises the padding.
TEST(VocabHead, Bf16KeepsTheFp32ArgmaxAndStaysWithinItsBound) {
  const int V = 101, C = 32;
  Rng rng(5);
  std::vector<float> wte(static_cast<size_t>(V) * C), x(C), exact(V), approx(V);
  for (int v = 0; v < V; ++v)
    for (int c = 0; c < C; ++c)
      wte[v * C + c] = v % 2 && v > 0 ? wte[(v - 1) * C + c] + 1e-4f * static_cast<float>(rng.uniform() - 0.5)
                                      : static_cast<float>(rng.uniform() - 0.5);
  VocabHead fp32(wte.data(), V, C, HeadPrecision::Fp32, 1), bf16(wte.data(), V, C, HeadPrecision::Bf16, 1);
  int rechecked_ties = 0;
  for (int trial = 0; trial < 300; ++trial) {
    for (auto& xi : x) xi = static_cast<float>(rng.uniform() * 4 - 2);
    fp32.project(x.data(), exact.data());
    bf16.project(x.data(), approx.data());
    const double e = bf16.error_bound(x.data());
    const int top = static_cast<int>(std::max_element(exact.begin(), exact.end()) - exact.begin());
    ASSERT_EQ(std::max_element(approx.begin(), approx.end()) - approx.begin(), top) << "trial " << trial;
    for (int v = 0; v < V; ++v) {
      ASSERT_LE(std::abs(double(approx[v]) - exact[v]), e) << "trial " << trial << " row " << v;
      if (exact[v] >= exact[top] - e) {
        ASSERT_EQ(approx[v], exact[v]) << "trial " << trial << " row " << v;
      }
    }
    const int twin = top ^ 1;  // rows come in near-tied pairs (2k, 2k + 1); the last row has none
    rechecked_ties += twin < V && std::abs(exact[twin] - exact[top]) < e;
  }
  EXPECT_GT(rechecked_ties, 100) << "the near-ties must be inside the bound, or the test shows nothing";
}

// A bf16-head stream generates the fp32 stream's greedy tokens.
TEST(StreamingMosaic, Bf16HeadGreedyTokensEqualFp32) {
  for (const std::string arch : {"mosaic", "gpt"}) {
    ModelConfig c = mosaic_config(2, false, 1, 64);
    c.arch = arch;
    auto model = random_model(c, 9);
    StreamOptions o;
    o.head = HeadPrecision::Bf16;
    auto s32 = make_stream(*model), s16 = make_stream(*model, o);
    std::vector<int32_t> prompt = random_tokens(8, c.vocab_size, 3);
    const float* l32 = s32->push_many(prompt.data(), 8);
    const float* l16 = s16->push_many(prompt.data(), 8);
    for (int t = 0; t < 300; ++t) {
      const auto next = static_cast<int32_t>(std::max_element(l32, l32 + c.vocab_size) - l32);
      ASSERT_EQ(std::max_element(l16, l16 + c.vocab_size) - l16, next) << arch << " token " << t;
      l32 = s32->push(next);
      l16 = s16->push(next);
    }
  }
}

// The reference fixtures' greedy continuations (made by full recomputation in PyTorch).
TEST(Streaming, ReferenceGreedyTokens) {
  const std::string dir = std::string(MOSAIC_SHARED_DIR) + "/reference";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "no fixtures in " << dir;
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".safetensors") continue;
    const auto file = safetensors::Reader::open(entry.path().string());
    auto model = make_model<float>(read_model_config(file));
    load_parameters(file, model->params(), "param.");
    const auto p64 = file.read_i64("greedy.prompt"), e64 = file.read_i64("greedy.tokens");
    const std::vector<int32_t> prompt(p64.begin(), p64.end()), expected(e64.begin(), e64.end());
    auto stream = make_stream(*model);
    const int V = model->config().vocab_size;
    const float* logits = stream->push_many(prompt.data(), static_cast<int>(prompt.size()));
    std::vector<int32_t> got;
    for (size_t i = 0; i < expected.size(); ++i) {
      got.push_back(static_cast<int32_t>(std::max_element(logits, logits + V) - logits));
      if (i + 1 < expected.size()) logits = stream->push(got.back());
    }
    EXPECT_EQ(got, expected) << entry.path();
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no fixtures in " << dir;
}

// ---- `mosaic sample` on the streaming path, as a user runs it ----

using Run = testing::CommandResult;

Run run_sample(const std::string& args, const std::string& stdin_text = "", bool with_stderr = true) {
  const std::string input = stdin_text.empty() ? "</dev/null" : "<<'EOF'\n" + stdin_text + "\nEOF\n";
  return testing::run_command(std::string(MOSAIC_BINARY) + " sample " + args + " " + input, with_stderr);
}

// A tiny random model with the GPT-2 vocabulary, saved where the binary can load it.
std::string tiny_checkpoint(const std::string& arch, int vocab, int block) {
  ModelConfig c = mosaic_config(2, true, 1, block);
  c.arch = arch;
  c.n_layer = 1;
  c.n_embd = 16;
  c.pmem_size = 8;
  c.vocab_size = vocab;
  auto model = random_model(c, 42);
  // Per process and shape: ctest runs tests as parallel processes that must not share a file.
  const std::string path = ::testing::TempDir() + "/stream_" + arch + "_" + std::to_string(vocab) + "_" +
                           std::to_string(block) + "_" + std::to_string(::getpid()) + ".safetensors";
  save_model(path, *model);
  return path;
}

TEST(StreamingCli, SampleStreamsWithMemoryLimitsAndReadsStdin) {
  REQUIRE_TOKENIZER();
  const std::string mosaic = tiny_checkpoint("mosaic", 50304, 16);
  auto r = run_sample("-m " + mosaic + " -p \"Once upon a time\" -n 40 -s 1 -t 1 --mem-limit 4 --evict lru --lru-threshold 0.05");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind("Once upon a time", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("4 pairs per head, evict lru"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("prompt:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tok/s"), std::string::npos) << r.output;
  auto piped = run_sample("-m " + mosaic + " -n 3 -t 1", "Hello from stdin");
  ASSERT_EQ(piped.status, 0) << piped.output;
  EXPECT_EQ(piped.output.rfind("Hello from stdin", 0), 0u) << piped.output;
  EXPECT_EQ(run_sample("-m " + mosaic + " -p \"\" -n 3 -t 1 --num-samples 2").status, 0);  // a new story
}

// --num-samples N streams the samples together; sample i is the one `-s seed+i` gives alone
// (sampled, not greedy: each sample's generator is its own), printed in order.
TEST(StreamingCli, SamplesTogetherEqualSamplesAlone) {
  REQUIRE_TOKENIZER();
  const std::string path = tiny_checkpoint("mosaic", 50304, 32);
  const std::string args = "-m " + path + " -p \"The cat\" -n 12 --temp 1 -t 1";
  auto together = run_sample(args + " -s 5 --num-samples 3", "", false);
  ASSERT_EQ(together.status, 0) << together.output;
  std::string expected;
  for (int s = 0; s < 3; ++s) {
    auto alone = run_sample(args + " -s " + std::to_string(5 + s), "", false);
    ASSERT_EQ(alone.status, 0) << alone.output;
    expected += alone.output.substr(0, alone.output.size() - 1) + (s < 2 ? "\n----\n" : "\n");
  }
  EXPECT_EQ(together.output, expected);
  auto error = run_sample(args + " --num-samples 0");
  EXPECT_NE(error.status, 0);
  EXPECT_NE(error.output.find("error:"), std::string::npos) << error.output;
}

// Greedy text is the same by streaming and by full recomputation (inside block_size).
TEST(StreamingCli, GreedyStreamingEqualsRecomputeAndBf16Head) {
  REQUIRE_TOKENIZER();
  for (const std::string arch : {"mosaic", "gpt"}) {
    const std::string path = tiny_checkpoint(arch, 50304, 32);
    const std::string args = "-m " + path + " -p \"The cat\" -n 20 --temp 0 -t 1";
    auto stream = run_sample(args, "", false), recompute = run_sample(args + " --recompute", "", false);
    auto bf16 = run_sample(args + " --head bf16", "", false);
    ASSERT_EQ(stream.status, 0);
    EXPECT_EQ(stream.output.rfind("The cat", 0), 0u) << stream.output;
    EXPECT_GT(stream.output.size(), 20u) << stream.output;
    EXPECT_EQ(stream.output, recompute.output) << arch;
    EXPECT_EQ(bf16.output, stream.output) << arch << ": a bf16 head picks the same greedy tokens";
  }
}

// A GPT in Hugging Face's GPT-2 layout (Conv1D weights (in, out), attention-mask buffers, with
// or without "transformer."), written here from one of our GPTs, loads back to the same model:
// the same logits. n_head comes from the config.json beside it.
TEST(ModelFiles, HuggingFaceGpt2LayoutLoadsIntoTheGptBaseline) {
  auto model = random_model(gpt_config(2, true, 16), 21);
  const ModelConfig& c = model->config();
  for (const std::string prefix : {"", "transformer."}) {
    const std::string dir = ::testing::TempDir() + "/hf_gpt2_" + std::to_string(::getpid()) + (prefix.empty() ? "a" : "b");
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    safetensors::Writer out;
    std::vector<std::vector<float>> keep;  // the writer reads its tensors when it writes
    for (const auto& e : model->params().entries()) {
      const std::string name = prefix + e.name.substr(std::string("transformer.").size());
      const float* v = model->params().value(e);
      const bool conv1d = e.name.ends_with("c_attn.weight") || e.name.ends_with("c_proj.weight") || e.name.ends_with("c_fc.weight");
      if (!conv1d) {
        out.add_f32(name, e.shape, v);
        continue;
      }
      const int64_t rows = e.shape[0], cols = e.shape[1];
      keep.emplace_back(rows * cols);
      for (int64_t o = 0; o < rows; ++o)
        for (int64_t i = 0; i < cols; ++i) keep.back()[i * rows + o] = v[o * cols + i];
      out.add_f32(name, {cols, rows}, keep.back().data());
    }
    const int64_t T = c.block_size;
    keep.emplace_back(T * T, 0.0f);
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j <= i; ++j) keep.back()[i * T + j] = 1.0f;
    for (int l = 0; l < c.n_layer; ++l)
      out.add_f32(prefix + "h." + std::to_string(l) + ".attn.bias", {1, 1, T, T}, keep.back().data());
    out.add_f32("lm_head.weight", {c.vocab_size, c.n_embd}, model->params().value(*model->params().find("transformer.wte.weight")));
    const std::string path = dir + "/model.safetensors";
    out.write(path);
    EXPECT_THROW(load_model(path), Error) << "no config.json: n_head unknown for a head size other than 64";
    std::ofstream(dir + "/config.json") << "{\"model_type\": \"gpt2\", \"n_head\": 2, \"n_embd\": 32}";
    auto loaded = load_model(path);
    EXPECT_EQ(loaded->config().arch, "gpt");
    EXPECT_EQ(loaded->config().n_head, 2);
    EXPECT_EQ(loaded->config().block_size, c.block_size);
    const auto tokens = random_tokens(16, c.vocab_size, 3);
    model->forward(tokens.data(), nullptr, 1, 16);
    const std::vector<float> expected(model->logits(), model->logits() + 16 * c.vocab_size);
    loaded->forward(tokens.data(), nullptr, 1, 16);
    for (int t = 0; t < 16; ++t)
      EXPECT_EQ(rel_diff(loaded->logits() + t * c.vocab_size, expected.data() + t * c.vocab_size, c.vocab_size), 0.0)
          << prefix << " position " << t;
    std::filesystem::remove_all(dir);
  }
}

// Streams generated together (one vocabulary product per step) give each stream's own greedy
// tokens, with prompts of different lengths and samples that end at different steps (a stop
// token one of them meets early); for both models and both head precisions. Also the batch
// projection against one projection per row.
TEST(Generation, StreamsTogetherGiveEachStreamsOwnTokens) {
  for (const std::string arch : {"mosaic", "gpt"})
    for (const HeadPrecision precision : {HeadPrecision::Fp32, HeadPrecision::Bf16}) {
      SCOPED_TRACE(arch + " " + head_precision_name(precision));
      ModelConfig c = mosaic_config(2, true, 1, 96);
      c.arch = arch;
      auto model = random_model(c, 31);
      StreamOptions options;
      options.head = precision;
      Sampler greedy({0.0, 0, 1.0});
      const std::vector<std::vector<int32_t>> prompts = {random_tokens(3, 97, 1), random_tokens(17, 97, 2),
                                                         random_tokens(1, 97, 3), random_tokens(9, 97, 4)};
      const int n = 40;
      std::vector<std::vector<int32_t>> alone(prompts.size());
      for (size_t i = 0; i < prompts.size(); ++i) {
        auto s = make_stream(*model, options);
        Rng rng(i);
        generate_streaming(*s, prompts[i], n, 97, greedy, rng, [&](int32_t t) { alone[i].push_back(t); });
      }
      const int32_t stop = alone[1][5];  // sample 1 ends at step 6 at the latest
      std::vector<std::vector<int32_t>> expected(prompts.size());
      for (size_t i = 0; i < prompts.size(); ++i)
        expected[i].assign(alone[i].begin(), std::find(alone[i].begin(), alone[i].end(), stop));
      std::vector<std::unique_ptr<TokenStream>> owned;
      std::vector<TokenStream*> streams;
      std::vector<Rng> rngs;
      for (size_t i = 0; i < prompts.size(); ++i) {
        owned.push_back(make_stream(*model, options));
        streams.push_back(owned.back().get());
        rngs.emplace_back(i);
      }
      std::vector<std::vector<int32_t>> together(prompts.size());
      std::vector<int> done_order;
      const auto stats = generate_streaming_batch(
          streams, owned[0]->head(), prompts, n, 97, greedy, rngs, [&](int i, int32_t t) { together[i].push_back(t); },
          [&](int i) { done_order.push_back(i); }, stop);
      EXPECT_EQ(together, expected);
      ASSERT_EQ(done_order.size(), prompts.size());
      EXPECT_EQ(done_order[0], 1) << "the stream that met the stop token first ends first";
      int64_t generated = 0;
      for (size_t i = 0; i < prompts.size(); ++i)
        generated += static_cast<int64_t>(expected[i].size()) + (expected[i].size() < size_t(n) ? 1 : 0);
      EXPECT_EQ(stats.generated, generated) << "stop tokens count as generated";

      // project_rows row by row against project: the same bits.
      const int C = c.n_embd, V = c.vocab_size, m = 5;
      std::vector<float> X(static_cast<size_t>(m) * C), batch(static_cast<size_t>(m) * V), one(V);
      Rng rng(8);
      for (auto& x : X) x = static_cast<float>(rng.uniform() - 0.5);
      VocabHead& head = owned[0]->head();
      head.project_rows(X.data(), m, batch.data());
      for (int i = 0; i < m; ++i) {
        head.project(X.data() + i * C, one.data());
        EXPECT_EQ(std::memcmp(batch.data() + i * V, one.data(), V * sizeof(float)), 0) << "row " << i;
      }
    }
}

// project_rows (a batch of streams, mosaic serve's step, which changes every time): a row's
// logits are bit for bit the same whatever the batch around it and the thread count, in fp32 (C
// a multiple of 8 or not, V a multiple of 16 or not) and bf16, on every SIMD target the CPU
// has; fp32 logits are the FMA chain over the features in order, computed here one by one.
TEST(VocabHead, ProjectRowsDoNotDependOnTheBatch) {
  const SimdTarget native = simd_target();
  for (const SimdTarget target : {SimdTarget::avx2, native}) {
    set_simd_target(target);
    for (const auto& [C, V, precision] : {std::tuple{16, 103, HeadPrecision::Fp32}, std::tuple{12, 96, HeadPrecision::Fp32},
                                          std::tuple{16, 103, HeadPrecision::Bf16}, std::tuple{20, 160, HeadPrecision::Bf16}}) {
      const int m = 9;
      Rng rng(3);
      std::vector<float> wte(static_cast<size_t>(V) * C), X(static_cast<size_t>(m) * C);
      for (auto& w : wte) w = static_cast<float>(rng.normal() * 0.5);
      for (auto& x : X) x = static_cast<float>(rng.uniform() - 0.5);
      VocabHead head(wte.data(), V, C, precision, 1), threaded(wte.data(), V, C, precision, 3);
      std::vector<float> batch(static_cast<size_t>(m) * V), alone(V), single(V);
      head.project_rows(X.data(), m, batch.data());
      for (int i = 0; i < m; ++i) {
        const std::string where = std::string(simd_target_name(target)) + ", C " + std::to_string(C) + ", row " + std::to_string(i);
        threaded.project_rows(X.data() + i * C, 1, alone.data());
        EXPECT_EQ(0, std::memcmp(alone.data(), batch.data() + i * V, V * sizeof(float))) << where;
        head.project(X.data() + i * C, single.data());
        EXPECT_EQ(0, std::memcmp(single.data(), batch.data() + i * V, V * sizeof(float))) << where;
        if (precision == HeadPrecision::Bf16) continue;
        for (int v = 0; v < V; ++v) {
          float chain = 0;
          for (int c = 0; c < C; ++c) chain = std::fma(wte[v * C + c], X[i * C + c], chain);
          ASSERT_EQ(chain, single[v]) << where << ", logit " << v;
        }
      }
    }
  }
  set_simd_target(native);
}

// A stop token ends both generation loops at its first occurrence, unshown and counted.
TEST(Generation, StopTokenEndsStreamingAndRecompute) {
  auto model = random_model(mosaic_config(2, true, 1, 64), 5);
  auto stream = make_stream(*model);
  Sampler greedy({0.0, 0, 1.0});
  Rng rng(1);
  const std::vector<int32_t> prompt = {5, 17, 3};
  std::vector<int32_t> free_run;
  generate_streaming(*stream, prompt, 12, 97, greedy, rng, [&](int32_t t) { free_run.push_back(t); });
  ASSERT_EQ(free_run.size(), 12u);
  const int32_t stop = free_run[6];
  const auto first = std::find(free_run.begin(), free_run.end(), stop) - free_run.begin();
  const std::vector<int32_t> expected(free_run.begin(), free_run.begin() + first);
  std::vector<int32_t> shown;
  const auto stats = generate_streaming(*stream, prompt, 12, 97, greedy, rng, [&](int32_t t) { shown.push_back(t); }, stop);
  EXPECT_EQ(shown, expected);
  EXPECT_EQ(stats.generated, first + 1);
  shown.clear();
  std::vector<int32_t> context = prompt;
  EXPECT_EQ(generate(*model, context, 12, 97, greedy, rng, [&](int32_t t) { shown.push_back(t); }, stop), first + 1);
  EXPECT_EQ(shown, expected);
  EXPECT_EQ(context.back(), stop);
}

// A model that always says <|endoftext|>: ln_f returns its bias b whatever the input (weight
// 0), and the end-of-text row of wte is 50 b.
std::string end_of_text_checkpoint(const std::string& arch) {
  const std::string path = tiny_checkpoint(arch, 50304, 16);
  auto model = load_model(path);
  auto& table = model->params();
  const std::string root = arch == "gpt" ? "transformer." : "mosaic.";
  float* w = table.value(*table.find(root + "ln_f.weight"));
  float* b = table.value(*table.find(root + "ln_f.bias"));
  float* eot = table.value(*table.find(root + "wte.weight")) + int64_t{50256} * 16;
  for (int c = 0; c < 16; ++c) {
    w[c] = 0.0f;
    b[c] = c % 2 ? 0.5f : -0.5f;
    eot[c] = 50 * b[c];
  }
  const std::string out = path + ".eot.safetensors";
  save_model(out, *model);
  return out;
}

TEST(StreamingCli, EndOfTextEndsASampleUnlessIgnored) {
  REQUIRE_TOKENIZER();
  for (const std::string arch : {"mosaic", "gpt"}) {
    const std::string path = end_of_text_checkpoint(arch);
    auto until_end = run_sample("-m " + path + " -p \"The end\" -n -1 -t 1", "", false);
    ASSERT_EQ(until_end.status, 0) << until_end.output;
    EXPECT_EQ(until_end.output, "The end\n") << arch;
    auto ignored = run_sample("-m " + path + " -p \"The end\" -n 3 -t 1 --ignore-eos", "", false);
    ASSERT_EQ(ignored.status, 0);
    EXPECT_EQ(ignored.output, "The end<|endoftext|><|endoftext|><|endoftext|>\n") << arch;
    auto conflict = run_sample("-m " + path + " -n -1 --ignore-eos");
    EXPECT_EQ(conflict.status, 1) << conflict.output;
    EXPECT_NE(conflict.output.find("hint: "), std::string::npos) << conflict.output;
  }
}

// -s -1 draws a random seed and prints it; that seed then reproduces the sample.
TEST(StreamingCli, RandomSeedIsPrintedAndReproduces) {
  REQUIRE_TOKENIZER();
  const std::string path = tiny_checkpoint("mosaic", 50304, 16);
  auto first = run_sample("-m " + path + " -p Hi -n 12 -t 1 -s -1");  // stdout and stderr
  ASSERT_EQ(first.status, 0) << first.output;
  const auto at = first.output.find("seed: ");
  ASSERT_NE(at, std::string::npos) << first.output;
  const std::string seed = first.output.substr(at + 6, first.output.find('\n', at) - at - 6);
  auto again = run_sample("-m " + path + " -p Hi -n 12 -t 1 -s " + seed, "", false);  // stdout only
  ASSERT_EQ(again.status, 0);
  EXPECT_NE(first.output.find(again.output), std::string::npos) << first.output << "\n---\n" << again.output;
}

TEST(StreamingCli, BadInputGivesAnErrorWithAHint) {
  REQUIRE_TOKENIZER();
  const std::string mosaic = tiny_checkpoint("mosaic", 50304, 16), gpt = tiny_checkpoint("gpt", 50304, 8);
  const struct { std::string args, message; } cases[] = {
      {"-m " + gpt + " -p \"one two three four five six seven eight nine\"", "error: the prompt is"},
      {"-m " + mosaic + " --evict fifo --mem-limit 2", "error: unknown eviction policy"},
      {"-m " + mosaic + " --top-p 0", "error: --top-p"},
      {"-m " + mosaic + " --head fp16", "error: unknown head precision"},
      {"-m " + tiny_checkpoint("mosaic", 97, 16) + " -p hi", "smaller than the tokenizer's"},
  };
  for (const auto& c : cases) {
    auto r = run_sample(c.args + " -n 2");
    EXPECT_EQ(r.status, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("hint: "), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace mosaic
