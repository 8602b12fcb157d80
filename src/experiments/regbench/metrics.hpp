// RegBench scores of a model's next-token distributions against the automaton (reference
// berlino/seq_icl: train.py _get_dfa_accuracy, and _writes_to_file with analyze.py
// get_dfa_probs). Not the data (dfa.hpp), not a model. Shapes: T = tokens - 1 positions, V = 20;
// probabilities are (T, V) row-major, row t = the model's distribution after reading tokens[0..t].
#pragma once
#include <cstdint>
#include <vector>

#include "experiments/regbench/dfa.hpp"

namespace mosaic::regbench {

// What the reference knows at position t: the automaton state after the current string's prefix
// (the start state right after '|'), and its legal next letters. The reference distribution is
// uniform over those letters, also where the true next token is '|' (it never puts mass on '|').
struct Position {
  uint32_t legal = 0;                // bit v: token v is a legal next letter (never kPad or kSep)
  bool scored_for_accuracy = false;  // false where the target is '|': the loss skips it too
};

// One entry per model position, t = 0..T-1. Throws if the tokens leave the automaton.
std::vector<Position> positions_of(const Task& task);

// Uniform over the set bits of `legal`: one row of V probabilities.
void reference_row(uint32_t legal, float* row);
// The (T, V) reference table of a task.
std::vector<float> reference_probs(const Task& task);

// Pooled over every added position (not averaged per sequence first):
//   accuracy: share of accuracy positions where the model's argmax (first maximum over all V
//             tokens, as torch.argmax) is a legal letter; '.' or '|' count as wrong.
//   l1:       mean over all T positions of sum_v |p_model(v) - p_ref(v)|, the reference's
//             logged `model_dfa_diff` (it has no 1/2).
//   tvd:      l1 / 2, the total variation distance in [0, 1].
//   legal_mass: mean probability the model puts on the legal letters (1 for the reference): with
//             accuracy, it tells a model that ranks well but spreads its mass from one that does not.
struct Scores {
  int64_t positions = 0;           // counted for l1 / tvd: all T of every task
  int64_t accuracy_positions = 0;  // counted for accuracy: targets that are letters
  double correct = 0;
  double l1_sum = 0;
  double legal_mass_sum = 0;

  // One position: `probs` holds V probabilities (a softmax over the full vocabulary).
  void add_row(const Position& pos, const float* probs);
  // Every position of a task: `probs` is (T, V).
  void add(const Task& task, const float* probs);
  void merge(const Scores& other);

  double accuracy() const;
  double l1() const;
  double tvd() const { return 0.5 * l1(); }
  double legal_mass() const;
};

}  // namespace mosaic::regbench
