// RegBench data (Akyürek et al. 2024; reference berlino/seq_icl src/dataloaders/dfa.py): random
// automata over 18 letters, minimised, and the token sequences drawn from them. Not the metrics
// (metrics.hpp), not a model. Shapes: V = 20 tokens ('.' = 0 padding, 'a'..'r' = 1..18, '|' = 19);
// a sequence of N tokens gives T = N - 1 model positions (inputs tokens[0..N-2], targets [1..N-1]).
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.hpp"

namespace mosaic::regbench {

// Token ids: the reference sorts {'.', 'a'..'r', '|'} by character code.
inline constexpr int kVocab = 20;
inline constexpr int32_t kPad = 0;
inline constexpr int32_t kSep = 19;
inline constexpr int kLetters = 18;
inline constexpr int32_t kIgnore = -1;  // target of a position the loss skips (the reference's -100)

// Sampling bounds, all inclusive, from configs/dataset/icl_dfa.yaml through numpy's exclusive
// `integers(low, high)`: max_outgoing_edges = 4 bounds states and alphabet from below and
// edges (1..3) from above; strings per sequence integers(10, 20); string length integers(1, 50).
inline constexpr int kMinStates = 4, kMaxStates = 12;      // before minimisation
inline constexpr int kMinAlphabet = 4, kMaxAlphabet = 18;  // letters edges may use
inline constexpr int kMinEdges = 1, kMaxEdges = 3;         // outgoing edges per state
inline constexpr int kMinStrings = 10, kMaxStrings = 19;   // strings per sequence
inline constexpr int kMinStringLen = 1, kMaxStringLen = 49;
inline constexpr int kMaxTokens = kMaxStrings * kMaxStringLen + kMaxStrings - 1;  // 949
inline constexpr int kMaxPositions = kMaxTokens - 1;                              // 948 = longest T

inline constexpr bool is_letter(int32_t token) { return token >= 1 && token <= kLetters; }
inline constexpr int32_t letter_token(int letter) { return letter + 1; }  // letter 0..17 -> token

// A partial DFA whose states all accept: a string is in the language iff every step has an edge
// (a missing edge is an implicit rejecting sink). Start state 0.
struct Dfa {
  static constexpr int kStart = 0;
  std::vector<std::array<int16_t, kLetters>> next;  // next[state][letter] or -1
  uint32_t alphabet = 0;  // bit l: letter l was in the sampled alphabet (every edge uses one)

  int num_states() const { return static_cast<int>(next.size()); }
  int step(int state, int32_t token) const;      // -1 when token is not an edge of state
  uint32_t legal_mask(int state) const;          // bit t for every token t with an edge
  std::vector<int32_t> legal_tokens(int state) const;  // ascending
  int out_degree(int state) const;
  int run(std::span<const int32_t> letters) const;  // state reached, -1 once an edge is missing
  bool accepts(std::span<const int32_t> letters) const { return run(letters) >= 0; }
};

// Two automata from minimise() accept the same language iff their tables are equal, because
// minimise() numbers states canonically.
bool same_language(const Dfa& a, const Dfa& b);

// The reference's RandomDFASampler before minimisation: 4..12 states, an alphabet of 4..18 of
// the 18 letters, per state 1..3 edges with distinct letters and distinct targets, no self-loops.
Dfa sample_raw_dfa(Rng& rng);

// The minimal DFA of the same language (what pythomata's minimize().trim() leaves): unreachable
// states dropped, equivalent states merged, the sink removed, states numbered in breadth-first
// order from the start over ascending letters. Merging can create self-loops and shared targets
// and can leave fewer than 4 states (down to 1); out-degrees survive.
Dfa minimise(const Dfa& dfa);

// sample_raw_dfa then minimise: one RegBench automaton.
Dfa sample_dfa(Rng& rng);

// `length` letters, each uniform over the current state's edges (the reference's DFA.sample).
std::vector<int32_t> sample_string(const Dfa& dfa, Rng& rng, int length);

// One example: 10..19 strings of 1..49 letters joined by '|', no leading or trailing '|'.
std::vector<int32_t> sample_sequence(const Dfa& dfa, Rng& rng);

// Next-token training pair of one sequence: inputs = tokens[0..N-2], targets = tokens[1..N-1]
// with '|' targets set to kIgnore (the reference masks them; '|' inputs keep their target, the
// next string's first letter). pad_to > N - 1 appends kPad inputs with kIgnore targets.
struct Example {
  std::vector<int32_t> inputs, targets;  // (T) each
};
Example make_example(std::span<const int32_t> tokens, int pad_to = 0);

struct Task {
  Dfa dfa;
  std::vector<int32_t> tokens;  // one sequence from dfa, N tokens
};

// `count` tasks, each a fresh automaton with one sequence; task i depends only on (seed, i), so
// a longer list extends a shorter one. An automaton whose language is in `exclude` is redrawn
// (the reference does not deduplicate: its set() keys on object identity; use this to keep a
// test split's languages out of training).
std::vector<Task> make_tasks(uint64_t seed, int count, std::span<const Dfa> exclude = {});

// The IID variant: one fresh sequence from each given automaton (e.g. the training automata).
std::vector<Task> sample_tasks_from(std::span<const Dfa> automata, uint64_t seed);

// Debug text: '.', 'a'..'r', '|' per token; from_text reads the same (other characters throw).
std::string to_text(std::span<const int32_t> tokens);
std::vector<int32_t> from_text(std::string_view text);
// One line per state with an edge: "0: a->1 c->2".
std::string describe(const Dfa& dfa);

}  // namespace mosaic::regbench
