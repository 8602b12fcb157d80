// Attention maps and retrievals read from a forward pass's attention weights (each layer's
// mixer keeps them for its backward pass; LanguageModel::attention reads them).
#include "eval/attention_map.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <string>

#include "core/error.hpp"
#include "eval/windows.hpp"
#include "io/token_shards.hpp"
#include "models/memory_mosaic.hpp"

namespace mosaic {

namespace {

// Per head of every layer, once its weights are final: their summaries, and the Memory
// Mosaic's leaky decay, time constant and key scale (NaN for GPT).
void summarize_heads(const LanguageModel<float>& model, std::vector<HeadMap>& heads) {
  const auto* mosaic = dynamic_cast<const MemoryMosaic<float>*>(&model);
  const int H = model.config().n_head;
  std::vector<float> decay(H), scale(H);
  for (auto& m : heads) {
    m.mass_last = mass_on_last(m.weight, kLastFraction);
    m.half_width = half_mass_width(m.weight);
    m.distance = mean_distance(m.weight);
    m.decay = m.key_scale = std::numeric_limits<double>::quiet_NaN();
    if (mosaic) {
      mosaic->blocks()[m.layer].mixer.levels.front().k_featurizer.head_coefficients(decay.data(), scale.data());
      m.decay = decay[m.head];
      m.key_scale = scale[m.head];
    }
    m.time_constant = leaky_time_constant(m.decay);
  }
}

}  // namespace

AttentionMaps attention_maps(LanguageModel<float>& model, std::span<const uint16_t> tokens,
                             const AttentionMapOptions& options, const std::function<void(int64_t, int64_t)>& progress) {
  const ModelConfig& config = model.config();
  const int T = options.context > 0 ? options.context : config.block_size;
  MOSAIC_CHECK(options.batch > 0, "--batch must be positive", "e.g. --batch 8");
  MOSAIC_CHECK(T >= 2 && T <= (1 << 16), "--context " + std::to_string(T) + " is out of range",
               "give a context of 2 to 65536 tokens");
  std::unique_ptr<LanguageModel<float>> longer;
  LanguageModel<float>& m = model_for_context(model, T, longer);
  const std::vector<Window> cut = windows_in_a_row(static_cast<int64_t>(tokens.size()), T, options.max_windows);
  const int64_t windows = static_cast<int64_t>(cut.size());
  check_tokens_fit(tokens.subspan(0, windows * T + 1), config.vocab_size, "the input");

  const int L = config.n_layer, H = config.n_head;
  AttentionMaps r;
  r.context = T;
  r.windows = windows;
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < H; ++h) r.heads.push_back({l, h, std::vector<double>(T, 0.0)});
  double loss_sum = 0;
  for_each_batch(tokens, cut, T, options.batch, 0, [&](const WindowBatch& batch) {
    const int B = batch.B;
    loss_sum += static_cast<double>(m.evaluate(batch.idx.data(), batch.targets.data(), B, T)) * B;
    for (int l = 0; l < L; ++l) {
      const auto view = m.attention(l);
      r.sees_self = view.sees_self();
      for (int h = 0; h < H; ++h) {
        std::vector<double>& sum = r.heads[static_cast<size_t>(l) * H + h].weight;
        for (int b = 0; b < B; ++b) {
          const float* row = view.row(b, h, T - 1);
          for (int j = view.first(T - 1); j < view.visible(T - 1); ++j) sum[j] += row[j];
        }
      }
    }
    if (progress) progress(batch.first + B, windows);
  });
  MOSAIC_CHECK(std::isfinite(loss_sum), "the model's loss is not finite on this input",
               "the checkpoint holds non-finite weights, or diverged: check it with mosaic info");
  r.mean_loss = loss_sum / static_cast<double>(windows);
  for (auto& head : r.heads)
    for (double& w : head.weight) w /= static_cast<double>(windows);
  summarize_heads(model, r.heads);
  return r;
}

double mass_on_last(std::span<const double> weight, double fraction) {
  const size_t T = weight.size();
  const size_t last = std::min(T, static_cast<size_t>(std::ceil(fraction * static_cast<double>(T) - 1e-9)));
  const double total = std::accumulate(weight.begin(), weight.end(), 0.0);
  const double tail = std::accumulate(weight.end() - static_cast<std::ptrdiff_t>(last), weight.end(), 0.0);
  return total > 0 ? tail / total : 0.0;
}

int half_mass_width(std::span<const double> weight) {
  const double total = std::accumulate(weight.begin(), weight.end(), 0.0);
  double mass = 0;
  for (size_t d = 0; d < weight.size(); ++d) {
    mass += weight[weight.size() - 1 - d];
    if (mass >= 0.5 * total * (1 - 1e-12)) return static_cast<int>(d) + 1;  // ten 0.05s sum to 0.4999...
  }
  return static_cast<int>(weight.size());
}

double mean_distance(std::span<const double> weight) {
  double total = 0, moment = 0;
  const size_t T = weight.size();
  for (size_t j = 0; j < T; ++j) {
    total += weight[j];
    moment += weight[j] * static_cast<double>(T - 1 - j);
  }
  return total > 0 ? moment / total : 0.0;
}

double leaky_time_constant(double decay) { return std::isnan(decay) ? decay : 1.0 / std::max(1e-12, 1.0 - decay); }

Explanation explain_attention(LanguageModel<float>& model, std::span<const uint16_t> tokens, int top, int context) {
  const ModelConfig& config = model.config();
  MOSAIC_CHECK(top > 0, "--top must be positive", "e.g. --top 3");
  const int limit = context > 0 ? context : config.block_size;
  const int T = static_cast<int>(std::min<int64_t>(static_cast<int64_t>(tokens.size()), limit));
  MOSAIC_CHECK(T >= 2, "the text holds " + std::to_string(tokens.size()) + " token" + (tokens.size() == 1 ? "" : "s"),
               "give at least two tokens of text to explain");
  std::unique_ptr<LanguageModel<float>> longer;
  LanguageModel<float>& m = model_for_context(model, T, longer);
  check_tokens_fit(tokens.subspan(0, T), config.vocab_size, "the text");
  std::vector<int32_t> idx(tokens.begin(), tokens.begin() + T), targets(T, -1);
  for (int t = 0; t + 1 < T; ++t) targets[t] = idx[t + 1];
  m.evaluate(idx.data(), targets.data(), 1, T);

  Explanation e;
  e.tokens = T;
  std::vector<int> order;
  for (int l = 0; l < config.n_layer; ++l) {
    const auto view = m.attention(l);
    e.sees_self = view.sees_self();
    for (int h = 0; h < config.n_head; ++h)
      for (int i = 0; i < T; ++i) {
        const float* row = view.row(0, h, i);
        order.resize(view.visible(i) - view.first(i));
        std::iota(order.begin(), order.end(), view.first(i));
        const size_t k = std::min<size_t>(top, order.size());
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [row](int a, int b) { return row[a] > row[b] || (row[a] == row[b] && a > b); });
        PositionRetrievals p{l, h, i, {}};
        for (size_t r = 0; r < k; ++r) p.top.push_back({order[r], row[order[r]]});
        e.rows.push_back(std::move(p));
      }
  }
  return e;
}

}  // namespace mosaic
