// RegBench reference distributions and the accuracy / TVD accumulator. Shapes: see metrics.hpp.
#include "experiments/regbench/metrics.hpp"

#include <bit>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace mosaic::regbench {

std::vector<Position> positions_of(const Task& task) {
  const std::vector<int32_t>& tokens = task.tokens;
  MOSAIC_CHECK(tokens.size() >= 2, "regbench: a task needs at least 2 tokens, got " + std::to_string(tokens.size()),
               "a RegBench sequence has at least 10 strings");
  const int T = static_cast<int>(tokens.size()) - 1;
  std::vector<Position> out(T);
  int state = Dfa::kStart;
  for (int t = 0; t < T; ++t) {
    const int32_t token = tokens[t];
    if (token == kSep) {
      state = Dfa::kStart;  // a new string starts
    } else {
      state = task.dfa.step(state, token);
      MOSAIC_CHECK(state >= 0,
                   "regbench: token " + std::to_string(t) + " ('" + to_text(tokens).substr(t, 1) +
                       "') has no edge in the task's automaton",
                   "task tokens must come from sample_sequence on the same automaton, with no padding");
    }
    out[t].legal = task.dfa.legal_mask(state);
    out[t].scored_for_accuracy = tokens[t + 1] != kSep;
  }
  // The last token is only a target, but a task that ends off the automaton is still broken.
  MOSAIC_CHECK(tokens[T] == kSep || task.dfa.step(state, tokens[T]) >= 0,
               "regbench: the last token has no edge in the task's automaton",
               "task tokens must come from sample_sequence on the same automaton, with no padding");
  return out;
}

void reference_row(uint32_t legal, float* row) {
  const int k = std::popcount(legal);
  for (int v = 0; v < kVocab; ++v) row[v] = (legal >> v & 1u) ? 1.0f / static_cast<float>(k) : 0.0f;
}

std::vector<float> reference_probs(const Task& task) {
  const std::vector<Position> pos = positions_of(task);
  std::vector<float> table(pos.size() * kVocab);
  for (size_t t = 0; t < pos.size(); ++t) reference_row(pos[t].legal, table.data() + t * kVocab);
  return table;
}

void Scores::add_row(const Position& pos, const float* probs) {
  // Reference in double: the float row of reference_row would add rounding of 1/k to the sum.
  const double share = 1.0 / std::popcount(pos.legal);
  double l1 = 0, legal = 0;
  int argmax = 0;
  for (int v = 0; v < kVocab; ++v) {
    const double ref = (pos.legal >> v & 1u) ? share : 0.0;
    l1 += std::fabs(static_cast<double>(probs[v]) - ref);
    if (pos.legal >> v & 1u) legal += probs[v];
    if (probs[v] > probs[argmax]) argmax = v;  // strict: the first maximum wins
  }
  ++positions;
  l1_sum += l1;
  legal_mass_sum += legal;
  if (pos.scored_for_accuracy) {
    ++accuracy_positions;
    correct += (pos.legal >> argmax & 1u) ? 1.0 : 0.0;
  }
}

void Scores::add(const Task& task, const float* probs) {
  const std::vector<Position> pos = positions_of(task);
  for (size_t t = 0; t < pos.size(); ++t) add_row(pos[t], probs + t * kVocab);
}

void Scores::merge(const Scores& other) {
  positions += other.positions;
  accuracy_positions += other.accuracy_positions;
  correct += other.correct;
  l1_sum += other.l1_sum;
  legal_mass_sum += other.legal_mass_sum;
}

double Scores::accuracy() const { return accuracy_positions > 0 ? correct / accuracy_positions : 0.0; }
double Scores::l1() const { return positions > 0 ? l1_sum / positions : 0.0; }
double Scores::legal_mass() const { return positions > 0 ? legal_mass_sum / positions : 0.0; }

}  // namespace mosaic::regbench
