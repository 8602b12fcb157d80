// The in-context n-gram counter (experiments/regbench/ngram.hpp): against an independent count of
// substrings in the text of each prefix, by hand on a short sequence, its backoff, and on real
// tasks (a longer context helps, '|' never gets mass).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "experiments/regbench/dfa.hpp"
#include "experiments/regbench/experiment.hpp"
#include "experiments/regbench/ngram.hpp"

namespace mosaic::regbench {
namespace {

int occurrences(const std::string& text, const std::string& pattern) {
  int n = 0;
  for (size_t at = text.find(pattern); at != std::string::npos; at = text.find(pattern, at + 1)) ++n;
  return n;
}

// Row t from substring counts: the longest suffix of text[0..t] (at most n - 1 characters) that
// occurs followed by a letter inside text[0..t].
std::vector<double> expected_row(const std::string& text, int t, int n) {
  const std::string prefix = text.substr(0, t + 1);
  std::vector<double> row(kVocab, 0.0);
  for (int k = std::min(n - 1, t + 1); k >= 0; --k) {
    const std::string context = prefix.substr(prefix.size() - k);
    int total = 0;
    for (int letter = 0; letter < kLetters; ++letter) total += occurrences(prefix, context + char('a' + letter));
    if (total == 0) continue;
    for (int letter = 0; letter < kLetters; ++letter)
      row[letter_token(letter)] = double(occurrences(prefix, context + char('a' + letter))) / total;
    return row;
  }
  for (int letter = 0; letter < kLetters; ++letter) row[letter_token(letter)] = 1.0 / kLetters;
  return row;
}

TEST(RegBenchNgram, MatchesSubstringCountsOfEveryPrefix) {
  const std::vector<Task> tasks = make_tasks(5, 6);
  for (const Task& task : tasks) {
    const std::string text = to_text(task.tokens);
    const int T = static_cast<int>(task.tokens.size()) - 1;
    for (int n : {1, 2, 3, 5}) {
      const std::vector<float> p = ngram_probs(task, n);
      ASSERT_EQ(p.size(), static_cast<size_t>(T) * kVocab);
      for (int t = 0; t < T; t += 7) {
        const std::vector<double> want = expected_row(text, t, n);
        for (int v = 0; v < kVocab; ++v) ASSERT_NEAR(p[t * kVocab + v], want[v], 1e-6) << "n " << n << " t " << t << " v " << v;
      }
    }
  }
}

TEST(RegBenchNgram, ByHandWithBackoff) {
  Task task;
  task.tokens = from_text("ab|ab|ac|ad");  // T = 10 positions
  const std::vector<float> p = ngram_probs(task, 3);
  const auto at = [&](int t, char c) { return p[t * kVocab + (c == '|' ? kSep : letter_token(c - 'a'))]; };
  // t = 9 reads "ab|ab|ac|a": "|a" was followed by b, then by c.
  EXPECT_FLOAT_EQ(at(9, 'b'), 0.5f);
  EXPECT_FLOAT_EQ(at(9, 'c'), 0.5f);
  // t = 8 reads "ab|ab|ac|": "c|" unseen, "|" was followed by a twice.
  EXPECT_FLOAT_EQ(at(8, 'a'), 1.0f);
  // t = 1 reads "ab": "ab" never seen before, "b" never followed by a letter: letter counts a, b.
  EXPECT_FLOAT_EQ(at(1, 'a'), 0.5f);
  EXPECT_FLOAT_EQ(at(1, 'b'), 0.5f);
  // t = 2 reads "ab|": "b|" and "|" unseen before: letter counts a 1, b 1.
  EXPECT_FLOAT_EQ(at(2, 'a'), 0.5f);
  // t = 4 reads "ab|ab": "ab" seen once, followed by '|': not a letter, so back off to "b", then to
  // the letter counts (a 2, b 2).
  EXPECT_FLOAT_EQ(at(4, 'a'), 0.5f);
  for (int t = 0; t < 10; ++t) EXPECT_EQ(at(t, '|'), 0.0f) << t;
  EXPECT_THROW(ngram_probs(task, 0), Error);
}

TEST(RegBenchNgram, LongerContextsScoreBetterOnRealTasks) {
  const std::vector<Task> tasks = make_tasks(9, 40);
  const TestScores one = score_ngram(1, tasks), three = score_ngram(3, tasks);
  EXPECT_GT(three.accuracy, one.accuracy + 0.1);
  EXPECT_LT(three.tvd, one.tvd);
  EXPECT_EQ(three.positions, one.positions);
}

}  // namespace
}  // namespace mosaic::regbench
