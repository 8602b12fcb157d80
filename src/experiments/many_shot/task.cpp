// The many-shot task's sequences and its training shards.
#include "experiments/many_shot/task.hpp"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "core/error.hpp"
#include "io/token_shards.hpp"

namespace mosaic::many_shot {

void Task::validate() const {
  MOSAIC_CHECK(words > 0 && labels >= classes && classes > 1 && class_words > 0 && class_words <= words &&
                   example_len > 0 && purity >= 0 && purity <= 1 && vocab() <= 65535,
               "an impossible many-shot task", "need labels >= classes > 1, 0 < class_words <= words, purity in [0, 1]");
}

namespace {

// k distinct values of [0, n), in random order.
std::vector<int> draw_distinct(int n, int k, Rng& rng) {
  std::vector<int> all(n);
  std::iota(all.begin(), all.end(), 0);
  for (int i = 0; i < k; ++i) std::swap(all[i], all[i + static_cast<int>(rng.below(n - i))]);
  all.resize(k);
  return all;
}

}  // namespace

Sequence make_sequence(const Task& task, int rounds, Rng& rng) {
  std::vector<std::vector<int>> class_sets(task.classes);
  for (auto& set : class_sets) set = draw_distinct(task.words, task.class_words, rng);
  const std::vector<int> label_of = draw_distinct(task.labels, task.classes, rng);
  Sequence s;
  for (int r = 0; r < rounds; ++r) {
    for (int c : draw_distinct(task.classes, task.classes, rng)) {
      for (int i = 0; i < task.example_len; ++i) {
        const bool own = rng.uniform() < task.purity;
        s.tokens.push_back(own ? class_sets[c][rng.below(task.class_words)] : static_cast<int>(rng.below(task.words)));
      }
      s.tokens.push_back(task.sep());
      s.label_positions.push_back(static_cast<int>(s.tokens.size()));
      s.shots.push_back(r);
      s.tokens.push_back(task.words + label_of[c]);
      s.tokens.push_back(task.delim());
    }
  }
  return s;
}

void write_shards(const Task& task, const std::string& dir, int64_t train_tokens, int64_t val_tokens, int max_rounds,
                  uint64_t seed) {
  task.validate();
  MOSAIC_CHECK(max_rounds > 0 && train_tokens > 0 && val_tokens > 0, "nothing to write", "pass positive sizes");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  MOSAIC_CHECK(!ec, "cannot create " + dir + ": " + ec.message(), "check the path and its permissions");
  Rng rng(seed);
  for (auto [name, count] : {std::pair{"train.bin", train_tokens}, {"val.bin", val_tokens}}) {
    std::vector<uint16_t> tokens;
    while (static_cast<int64_t>(tokens.size()) < count) {
      const Sequence s = make_sequence(task, 1 + static_cast<int>(rng.below(max_rounds)), rng);
      tokens.insert(tokens.end(), s.tokens.begin(), s.tokens.end());
      tokens.push_back(static_cast<uint16_t>(task.end()));
    }
    write_token_shard(dir + "/" + name, tokens);
  }
}

}  // namespace mosaic::many_shot
