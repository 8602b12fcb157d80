// RegBench data and metrics (src/experiments/regbench): sampler rules before and after
// minimisation (minimality checked by an independent table-filling algorithm), sequence shape,
// the shifted and masked training pair, reference distributions, and scores of models whose
// accuracy and TVD are known by hand. Each checker also meets an input it must reject.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>
#include <tuple>
#include <vector>

#include "core/error.hpp"
#include "experiments/regbench/dfa.hpp"
#include "experiments/regbench/metrics.hpp"

namespace mosaic::regbench {
namespace {

// Hand-built automaton from "state letter target" triples.
Dfa build(int states, std::initializer_list<std::tuple<int, char, int>> edges) {
  Dfa d;
  d.next.assign(states, {});
  for (auto& row : d.next) row.fill(-1);
  for (auto [s, c, t] : edges) {
    d.next[s][c - 'a'] = static_cast<int16_t>(t);
    d.alphabet |= 1u << (c - 'a');
  }
  return d;
}

// Strings of a sequence, split at '|'.
std::vector<std::vector<int32_t>> split_strings(const std::vector<int32_t>& tokens) {
  std::vector<std::vector<int32_t>> out(1);
  for (int32_t t : tokens) {
    if (t == kSep) out.emplace_back();
    else out.back().push_back(t);
  }
  return out;
}

// Table filling (Myhill-Nerode), independent of minimise()'s Moore refinement: states p, q are
// distinguishable if one has an edge the other lacks (the missing edge rejects) or a common
// letter leads to a distinguishable pair. Minimal = all reachable and all pairs distinguishable.
bool is_minimal(const Dfa& d) {
  const int n = d.num_states();
  std::vector<char> seen(n, 0);
  std::vector<int> stack{0};
  seen[0] = 1;
  while (!stack.empty()) {
    const int s = stack.back();
    stack.pop_back();
    for (int l = 0; l < kLetters; ++l)
      if (int t = d.next[s][l]; t >= 0 && !seen[t]) seen[t] = 1, stack.push_back(t);
  }
  if (std::count(seen.begin(), seen.end(), 1) != n) return false;
  std::vector<char> dist(n * n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (int p = 0; p < n; ++p)
      for (int q = 0; q < n; ++q) {
        if (p == q || dist[p * n + q]) continue;
        for (int l = 0; l < kLetters; ++l) {
          const int a = d.next[p][l], b = d.next[q][l];
          if ((a >= 0) != (b >= 0) || (a >= 0 && dist[a * n + b])) {
            dist[p * n + q] = 1;
            changed = true;
            break;
          }
        }
      }
  }
  for (int p = 0; p < n; ++p)
    for (int q = p + 1; q < n; ++q)
      if (!dist[p * n + q]) return false;
  return true;
}

// Random letters from the automaton's alphabet (legal or not), for language comparisons.
std::vector<int32_t> random_word(const Dfa& d, Rng& rng, int len) {
  std::vector<int32_t> letters;
  for (int l = 0; l < kLetters; ++l)
    if (d.alphabet >> l & 1u) letters.push_back(letter_token(l));
  std::vector<int32_t> w(len);
  for (auto& t : w) t = letters[rng.below(letters.size())];
  return w;
}

uint64_t fnv1a(uint64_t h, int64_t v) {
  for (int i = 0; i < 8; ++i) h = (h ^ ((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF)) * 0x100000001B3ull;
  return h;
}

TEST(RegBench, TokenIdsAreTheSortedCharacters) {
  EXPECT_EQ(from_text(".abr|"), (std::vector<int32_t>{0, 1, 2, 18, 19}));
  EXPECT_EQ(to_text(std::vector<int32_t>{0, 1, 18, 19}), ".ar|");
  EXPECT_EQ(to_text(from_text("abc|rq.")), "abc|rq.");
  EXPECT_THROW(from_text("abs"), Error);  // 's' is the 19th letter: not in the vocabulary
  EXPECT_EQ(describe(build(2, {{0, 'a', 1}, {1, 'c', 0}})), "0: a->1\n1: c->0\n");
}

TEST(RegBench, RawAutomataFollowTheSamplerRules) {
  std::set<int> state_counts, alphabet_sizes, degrees;
  for (uint64_t seed = 0; seed < 3000; ++seed) {
    Rng rng(seed);
    const Dfa d = sample_raw_dfa(rng);
    const int n = d.num_states();
    ASSERT_GE(n, kMinStates);
    ASSERT_LE(n, kMaxStates);
    const int m = std::popcount(d.alphabet);
    ASSERT_GE(m, kMinAlphabet);
    ASSERT_LE(m, kMaxAlphabet);
    state_counts.insert(n);
    alphabet_sizes.insert(m);
    for (int s = 0; s < n; ++s) {
      const int k = d.out_degree(s);
      ASSERT_GE(k, kMinEdges);
      ASSERT_LE(k, kMaxEdges);
      degrees.insert(k);
      std::set<int> targets;
      for (int l = 0; l < kLetters; ++l) {
        const int t = d.next[s][l];
        if (t < 0) continue;
        ASSERT_TRUE(d.alphabet >> l & 1u) << "edge letter outside the alphabet";
        ASSERT_NE(t, s) << "self-loop";
        ASSERT_LT(t, n);
        targets.insert(t);
      }
      ASSERT_EQ(static_cast<int>(targets.size()), k) << "targets of one state must be distinct";
    }
  }
  // Every value of each inclusive range occurs: no off-by-one at either end.
  EXPECT_EQ(state_counts.size(), static_cast<size_t>(kMaxStates - kMinStates + 1));
  EXPECT_EQ(alphabet_sizes.size(), static_cast<size_t>(kMaxAlphabet - kMinAlphabet + 1));
  EXPECT_EQ(degrees.size(), static_cast<size_t>(kMaxEdges - kMinEdges + 1));
}

TEST(RegBench, MinimiseMergesHandBuiltEquivalentStates) {
  // a-cycle of two states: both accept a*, so one state with a self-loop remains.
  const Dfa cycle = build(2, {{0, 'a', 1}, {1, 'a', 0}});
  EXPECT_FALSE(is_minimal(cycle));
  const Dfa one = minimise(cycle);
  ASSERT_EQ(one.num_states(), 1);
  EXPECT_EQ(one.next[0]['a' - 'a'], 0);
  EXPECT_TRUE(is_minimal(one));

  // 1 and 2 both allow only c back to 0; state 3 is unreachable.
  const Dfa diamond = build(4, {{0, 'a', 1}, {0, 'b', 2}, {1, 'c', 0}, {2, 'c', 0}, {3, 'd', 0}});
  EXPECT_FALSE(is_minimal(diamond));
  const Dfa merged = minimise(diamond);
  EXPECT_EQ(merged.num_states(), 2);
  EXPECT_TRUE(is_minimal(merged));
  EXPECT_EQ(merged.next[0]['a' - 'a'], merged.next[0]['b' - 'a']);  // shared target after merging

  // Different out-sets are never merged: a missing edge is a rejecting sink.
  const Dfa distinct = build(3, {{0, 'a', 1}, {1, 'b', 2}, {2, 'c', 0}});
  EXPECT_TRUE(is_minimal(distinct));
  EXPECT_EQ(minimise(distinct).num_states(), 3);
}

TEST(RegBench, MinimisedAutomataAreMinimalEquivalentAndCanonical) {
  std::vector<int> histogram(kMaxStates + 1, 0);
  for (uint64_t seed = 0; seed < 1500; ++seed) {
    Rng rng(seed);
    const Dfa raw = sample_raw_dfa(rng);
    const Dfa d = minimise(raw);
    const int n = d.num_states();
    ASSERT_GE(n, 1);
    ASSERT_LE(n, raw.num_states());
    ++histogram[n];
    ASSERT_TRUE(is_minimal(d)) << describe(raw);
    for (int s = 0; s < n; ++s) {
      ASSERT_GE(d.out_degree(s), kMinEdges);  // equivalent states share their out-set
      ASSERT_LE(d.out_degree(s), kMaxEdges);
    }
    EXPECT_TRUE(same_language(minimise(d), d)) << "minimise is idempotent";

    // Same language as the raw automaton, on random words over the alphabet and on samples.
    Rng words(seed + 77);
    for (int i = 0; i < 40; ++i) {
      const auto w = random_word(raw, words, 1 + static_cast<int>(words.below(8)));
      ASSERT_EQ(raw.accepts(w), d.accepts(w)) << to_text(w);
      ASSERT_TRUE(d.accepts(sample_string(raw, words, 12)));
      ASSERT_TRUE(raw.accepts(sample_string(d, words, 12)));
    }

    // Canonical: renaming the raw states (keeping 0 the start) gives the same table.
    std::vector<int> perm(raw.num_states());
    std::iota(perm.begin(), perm.end(), 0);
    std::reverse(perm.begin() + 1, perm.end());
    Dfa renamed = raw;
    for (int s = 0; s < raw.num_states(); ++s)
      for (int l = 0; l < kLetters; ++l) {
        const int t = raw.next[s][l];
        renamed.next[perm[s]][l] = static_cast<int16_t>(t >= 0 ? perm[t] : -1);
      }
    ASSERT_TRUE(same_language(minimise(renamed), d));
  }
  std::printf("[ regbench ] minimised state counts over 1500 automata:");
  for (int n = 1; n <= kMaxStates; ++n) std::printf(" %d:%d", n, histogram[n]);
  std::printf("\n");
}

TEST(RegBench, SampledStringsAreAccepted) {
  for (const Task& task : make_tasks(11, 200)) {
    for (const auto& s : split_strings(task.tokens)) ASSERT_TRUE(task.dfa.accepts(s)) << to_text(s);
  }
  // The check can fail: a letter without an edge from the start is rejected.
  const Dfa d = build(2, {{0, 'a', 1}, {1, 'b', 0}});
  EXPECT_TRUE(d.accepts(from_text("abab")));
  EXPECT_FALSE(d.accepts(from_text("abb")));
  EXPECT_FALSE(d.accepts(from_text("c")));
}

TEST(RegBench, SequencesHaveTheReferenceShape) {
  std::set<int> string_counts, lengths;
  for (const Task& task : make_tasks(5, 400)) {
    const auto& tok = task.tokens;
    ASSERT_LE(static_cast<int>(tok.size()), kMaxTokens);
    ASSERT_TRUE(is_letter(tok.front())) << "no leading '|'";
    ASSERT_TRUE(is_letter(tok.back())) << "no trailing '|'";
    for (int32_t t : tok) ASSERT_TRUE(is_letter(t) || t == kSep) << "no padding inside a sequence";
    const auto strings = split_strings(tok);
    const int k = static_cast<int>(strings.size());
    ASSERT_GE(k, kMinStrings);
    ASSERT_LE(k, kMaxStrings);
    string_counts.insert(k);
    for (const auto& s : strings) {
      ASSERT_GE(static_cast<int>(s.size()), kMinStringLen) << "'||' would be an empty string";
      ASSERT_LE(static_cast<int>(s.size()), kMaxStringLen);
      lengths.insert(static_cast<int>(s.size()));
    }
  }
  EXPECT_EQ(string_counts.size(), static_cast<size_t>(kMaxStrings - kMinStrings + 1));
  EXPECT_EQ(lengths.size(), static_cast<size_t>(kMaxStringLen - kMinStringLen + 1));
}

TEST(RegBench, ExampleShiftsByOneAndMasksSeparatorTargets) {
  const auto tokens = from_text("ab|c");
  const Example ex = make_example(tokens);
  EXPECT_EQ(ex.inputs, from_text("ab|"));
  EXPECT_EQ(ex.targets, (std::vector<int32_t>{2, kIgnore, 3}));  // '|' input keeps target 'c'
  const Example padded = make_example(tokens, 5);
  EXPECT_EQ(padded.inputs, from_text("ab|.."));
  EXPECT_EQ(padded.targets, (std::vector<int32_t>{2, kIgnore, 3, kIgnore, kIgnore}));
  EXPECT_THROW(make_example(tokens, 2), Error);
  EXPECT_THROW(make_example(from_text("a")), Error);

  for (const Task& task : make_tasks(3, 50)) {
    const Example e = make_example(task.tokens, kMaxPositions);
    const int T = static_cast<int>(task.tokens.size()) - 1;
    for (int t = 0; t < kMaxPositions; ++t) {
      if (t >= T) {
        ASSERT_EQ(e.inputs[t], kPad);
        ASSERT_EQ(e.targets[t], kIgnore);
      } else {
        ASSERT_EQ(e.inputs[t], task.tokens[t]);
        ASSERT_EQ(e.targets[t], task.tokens[t + 1] == kSep ? kIgnore : task.tokens[t + 1]);
      }
    }
  }
}

TEST(RegBench, ReferenceRowsAreUniformOverTheCurrentStringsLegalLetters) {
  for (const Task& task : make_tasks(21, 60)) {
    const std::vector<float> ref = reference_probs(task);
    const int T = static_cast<int>(task.tokens.size()) - 1;
    ASSERT_EQ(ref.size(), static_cast<size_t>(T) * kVocab);
    std::vector<int32_t> prefix;  // the current string up to and including token t
    for (int t = 0; t < T; ++t) {
      if (task.tokens[t] == kSep) prefix.clear();
      else prefix.push_back(task.tokens[t]);
      const int state = task.dfa.run(prefix);
      ASSERT_GE(state, 0);
      const std::vector<int32_t> legal = task.dfa.legal_tokens(state);
      const float* row = ref.data() + t * kVocab;
      double sum = 0;
      for (int v = 0; v < kVocab; ++v) {
        const bool is_legal = std::find(legal.begin(), legal.end(), v) != legal.end();
        ASSERT_FLOAT_EQ(row[v], is_legal ? 1.0f / legal.size() : 0.0f) << "t=" << t << " v=" << v;
        sum += row[v];
      }
      ASSERT_NEAR(sum, 1.0, 1e-6);
      EXPECT_EQ(row[kPad], 0.0f);
      EXPECT_EQ(row[kSep], 0.0f);
    }
  }
  // Tokens that leave the automaton are an error, not a silent row.
  const Dfa ab = build(2, {{0, 'a', 1}, {1, 'b', 0}});
  EXPECT_NO_THROW(positions_of(Task{ab, from_text("ab|ab")}));
  EXPECT_THROW(positions_of(Task{ab, from_text("ab|aab")}), Error);  // inside the inputs
  EXPECT_THROW(positions_of(Task{ab, from_text("ab|aa")}), Error);   // the last target only
}

TEST(RegBench, ReferenceModelScoresPerfectly) {
  Scores scores;
  int64_t T_total = 0, letter_targets = 0;
  for (const Task& task : make_tasks(9, 40)) {
    const std::vector<float> ref = reference_probs(task);
    scores.add(task, ref.data());
    T_total += static_cast<int64_t>(task.tokens.size()) - 1;
    letter_targets += std::count_if(task.tokens.begin() + 1, task.tokens.end(), is_letter);
  }
  EXPECT_EQ(scores.positions, T_total);
  EXPECT_EQ(scores.accuracy_positions, letter_targets);
  EXPECT_NEAR(scores.tvd(), 0.0, 1e-6);
  EXPECT_DOUBLE_EQ(scores.accuracy(), 1.0);
  EXPECT_NEAR(scores.legal_mass(), 1.0, 1e-6);
}

// 0 -a-> 1, 0 -b-> 1, 1 -a-> 0 on "aa|b": positions (input a, state 1, {a}), (a, state 0, {a,b},
// target '|'), ('|', state 0, {a,b}). A uniform model over 20 tokens has TVD 1 - k/20 against a
// uniform reference over k letters: 0.95, 0.9, 0.9; its argmax is '.', so accuracy 0 of 2.
TEST(RegBench, UniformModelOnHandBuiltAutomatonHasTheHandComputedScores) {
  const Task task{build(2, {{0, 'a', 1}, {0, 'b', 1}, {1, 'a', 0}}), from_text("aa|b")};
  const std::vector<Position> pos = positions_of(task);
  ASSERT_EQ(pos.size(), 3u);
  EXPECT_EQ(pos[0].legal, 1u << 1);
  EXPECT_EQ(pos[1].legal, (1u << 1) | (1u << 2));
  EXPECT_EQ(pos[2].legal, (1u << 1) | (1u << 2));
  EXPECT_TRUE(pos[0].scored_for_accuracy);
  EXPECT_FALSE(pos[1].scored_for_accuracy);
  EXPECT_TRUE(pos[2].scored_for_accuracy);

  std::vector<float> uniform(3 * kVocab, 1.0f / kVocab);
  Scores s;
  s.add(task, uniform.data());
  EXPECT_EQ(s.positions, 3);
  EXPECT_EQ(s.accuracy_positions, 2);
  EXPECT_NEAR(s.tvd(), (0.95 + 0.9 + 0.9) / 3, 1e-6);
  EXPECT_NEAR(s.l1(), 2 * (0.95 + 0.9 + 0.9) / 3, 1e-6);
  EXPECT_NEAR(s.legal_mass(), (1.0 + 2.0 + 2.0) / 20 / 3, 1e-6) << "1, 2 and 2 legal letters of 20";
  EXPECT_DOUBLE_EQ(s.accuracy(), 0.0);

  // One-hot on a legal letter, except all mass on '|' where the target is '|': that position
  // costs TVD 1 but no accuracy (it is not scored), the others cost 1 - 1/k.
  std::vector<float> onehot(3 * kVocab, 0.0f);
  onehot[0 * kVocab + 1] = 1;     // 'a', the only legal letter
  onehot[1 * kVocab + kSep] = 1;  // '|'
  onehot[2 * kVocab + 2] = 1;     // 'b', one of two
  Scores h;
  h.add(task, onehot.data());
  EXPECT_DOUBLE_EQ(h.accuracy(), 1.0);
  EXPECT_NEAR(h.tvd(), (0.0 + 1.0 + 0.5) / 3, 1e-6);

  // An argmax on an illegal letter is wrong; a tie goes to the first maximum ('a', legal).
  std::vector<float> wrong(onehot);
  wrong[2 * kVocab + 2] = 0;
  wrong[2 * kVocab + 3] = 1;  // 'c': no edge from state 0
  Scores w;
  w.add(task, wrong.data());
  EXPECT_DOUBLE_EQ(w.accuracy(), 0.5);
  std::vector<float> tie(3 * kVocab, 0.0f);
  for (int t = 0; t < 3; ++t) tie[t * kVocab + 1] = tie[t * kVocab + 3] = 0.5f;
  Scores ti;
  ti.add(task, tie.data());
  EXPECT_DOUBLE_EQ(ti.accuracy(), 1.0);
}

TEST(RegBench, ScoresPoolPositionsAndMerge) {
  const std::vector<Task> tasks = make_tasks(13, 6);
  Scores all, first, second;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const int T = static_cast<int>(tasks[i].tokens.size()) - 1;
    std::vector<float> probs(static_cast<size_t>(T) * kVocab, 1.0f / kVocab);
    all.add(tasks[i], probs.data());
    (i < 3 ? first : second).add(tasks[i], probs.data());
  }
  first.merge(second);
  EXPECT_EQ(first.positions, all.positions);
  EXPECT_EQ(first.accuracy_positions, all.accuracy_positions);
  EXPECT_NEAR(first.l1_sum, all.l1_sum, 1e-9);
  EXPECT_NEAR(first.tvd(), all.tvd(), 1e-12);
}

TEST(RegBench, SameSeedSameDataOtherSeedOtherData) {
  const std::vector<Task> a = make_tasks(7, 20), b = make_tasks(7, 20), c = make_tasks(8, 20);
  const std::vector<Task> prefix = make_tasks(7, 5);
  int differing = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].tokens, b[i].tokens);
    ASSERT_TRUE(same_language(a[i].dfa, b[i].dfa));
    differing += a[i].tokens != c[i].tokens;
  }
  EXPECT_GE(differing, 19);
  for (size_t i = 0; i < prefix.size(); ++i) EXPECT_EQ(prefix[i].tokens, a[i].tokens);

  // The IID variant: fresh sequences from the same automata, reproducible from its seed.
  std::vector<Dfa> automata;
  for (const Task& t : a) automata.push_back(t.dfa);
  const std::vector<Task> iid = sample_tasks_from(automata, 99), iid2 = sample_tasks_from(automata, 99);
  ASSERT_EQ(iid.size(), a.size());
  int fresh = 0;
  for (size_t i = 0; i < iid.size(); ++i) {
    ASSERT_TRUE(same_language(iid[i].dfa, a[i].dfa));
    ASSERT_EQ(iid[i].tokens, iid2[i].tokens);
    for (const auto& s : split_strings(iid[i].tokens)) ASSERT_TRUE(iid[i].dfa.accepts(s));
    fresh += iid[i].tokens != a[i].tokens;
  }
  EXPECT_GE(fresh, 19);

  // Same on every machine: Rng::below is integer arithmetic, so this digest is fixed. If the
  // generator changes on purpose, print the new value and update it here (and say so).
  uint64_t h = 0xCBF29CE484222325ull;
  for (const Task& t : make_tasks(2024, 16)) {
    for (const auto& row : t.dfa.next)
      for (int16_t v : row) h = fnv1a(h, v);
    for (int32_t v : t.tokens) h = fnv1a(h, v);
  }
  EXPECT_EQ(h, 0x400C7DEAF5D84AD8ull) << "digest 0x" << std::hex << h;
}

TEST(RegBench, ExcludeKeepsAnotherSplitsLanguagesOut) {
  const std::vector<Task> train = make_tasks(1, 400);
  std::vector<Dfa> train_dfas;
  for (const Task& t : train) train_dfas.push_back(t.dfa);
  auto overlap = [&](const std::vector<Task>& test) {
    int n = 0;
    for (const Task& t : test)
      n += std::any_of(train_dfas.begin(), train_dfas.end(), [&](const Dfa& d) { return same_language(d, t.dfa); });
    return n;
  };
  const int plain = overlap(make_tasks(2, 400));
  EXPECT_EQ(overlap(make_tasks(2, 400, train_dfas)), 0);
  std::printf("[ regbench ] test automata sharing a language with 400 training automata: %d of 400 "
              "without exclude\n", plain);
}

}  // namespace
}  // namespace mosaic::regbench
