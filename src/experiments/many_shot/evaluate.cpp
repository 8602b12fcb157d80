// Batches of fresh sequences through the model's logits pass; per sequence and shot count the
// fraction of labels right, then the mean and its standard error over sequences.
#include "experiments/many_shot/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.hpp"
#include "eval/windows.hpp"

namespace mosaic::many_shot {

ShotAccuracy evaluate(LanguageModel<float>& model, const Task& task, int rounds, int sequences, uint64_t seed, int batch,
                      const std::function<void(int, int)>& progress) {
  task.validate();
  const int V = model.config().vocab_size;
  MOSAIC_CHECK(task.vocab() <= V,
               "the task has " + std::to_string(task.vocab()) + " tokens, the model " + std::to_string(V),
               "evaluate a model trained on this task's shards (mosaic many-shot prepare)");
  MOSAIC_CHECK(rounds > 0 && sequences > 1 && batch > 0, "nothing to evaluate", "pass --rounds >= 1 and --sequences >= 2");
  const int T = rounds * task.round_tokens();
  std::unique_ptr<LanguageModel<float>> longer;
  LanguageModel<float>& m = model_for_context(model, T, longer);
  Rng rng(seed);
  std::vector<std::vector<double>> per_sequence(rounds);  // [shots][sequence]: fraction right
  std::vector<int32_t> idx;
  for (int first = 0; first < sequences; first += batch) {
    const int B = std::min(batch, sequences - first);
    std::vector<Sequence> seqs;
    idx.clear();
    for (int b = 0; b < B; ++b) {
      seqs.push_back(make_sequence(task, rounds, rng));
      idx.insert(idx.end(), seqs.back().tokens.begin(), seqs.back().tokens.end());
    }
    m.forward(idx.data(), nullptr, B, T);
    const float* logits = m.logits();
    for (int b = 0; b < B; ++b) {
      std::vector<int> right(rounds, 0), seen(rounds, 0);
      const Sequence& s = seqs[b];
      for (size_t i = 0; i < s.label_positions.size(); ++i) {
        const int p = s.label_positions[i];
        const float* row = logits + (static_cast<int64_t>(b) * T + p - 1) * V;
        const int guess = static_cast<int>(std::max_element(row, row + V) - row);
        right[s.shots[i]] += guess == s.tokens[p];
        ++seen[s.shots[i]];
      }
      for (int k = 0; k < rounds; ++k) per_sequence[k].push_back(static_cast<double>(right[k]) / seen[k]);
    }
    if (progress) progress(first + B, sequences);
  }
  ShotAccuracy r{task, rounds, sequences, {}, {}};
  for (const auto& values : per_sequence) {
    double mean = 0, var = 0;
    for (double v : values) mean += v / values.size();
    for (double v : values) var += (v - mean) * (v - mean) / (values.size() - 1);
    r.accuracy.push_back(mean);
    r.stderr_of_mean.push_back(std::sqrt(var / values.size()));
  }
  return r;
}

}  // namespace mosaic::many_shot
