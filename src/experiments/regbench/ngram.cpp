// Counts by brute force over the prefix: O(T^2 n) per task, about 10^6 operations at T = 948,
// no tables to keep in step with the position.
#include "experiments/regbench/ngram.hpp"

#include <algorithm>
#include <array>

#include "core/error.hpp"

namespace mosaic::regbench {

std::vector<float> ngram_probs(const Task& task, int n) {
  MOSAIC_CHECK(n >= 1 && n <= 16, "n-gram order " + std::to_string(n) + " is out of range", "give an order from 1 to 16");
  const std::vector<int32_t>& tok = task.tokens;
  const int T = static_cast<int>(tok.size()) - 1;
  std::vector<float> probs(static_cast<size_t>(std::max(T, 0)) * kVocab, 0.0f);
  for (int t = 0; t < T; ++t) {
    float* row = probs.data() + static_cast<size_t>(t) * kVocab;
    // The longest context (up to n - 1 tokens ending at t) that was followed by a letter before.
    for (int k = std::min(n - 1, t + 1); k >= 0; --k) {
      std::array<int, kVocab> count{};
      int total = 0;
      for (int j = k - 1; j < t; ++j) {  // an earlier occurrence ends at j, its next token is tok[j + 1]
        if (!is_letter(tok[j + 1])) continue;
        bool same = true;
        for (int i = 0; i < k && same; ++i) same = tok[j - i] == tok[t - i];
        if (!same) continue;
        ++count[tok[j + 1]];
        ++total;
      }
      if (total == 0) continue;
      for (int v = 0; v < kVocab; ++v) row[v] = static_cast<float>(count[v]) / static_cast<float>(total);
      break;
    }
    if (std::all_of(row, row + kVocab, [](float p) { return p == 0.0f; }))
      for (int letter = 0; letter < kLetters; ++letter) row[letter_token(letter)] = 1.0f / kLetters;
  }
  return probs;
}

}  // namespace mosaic::regbench
