// The in-context n-gram counter: RegBench's baseline with no training (Akyürek et al. 2024
// compare against it). At each position it predicts the letters that followed the last n - 1
// tokens earlier in the same sequence, in proportion to their counts; where that context has
// never been followed by a letter it backs off to n - 2 tokens, down to the letter counts of the
// sequence so far, and to uniform over the 18 letters at the start. '|' is never predicted: it
// is not a scored target (the models' loss skips it too), but it is part of the context, where
// it marks the start state. Shapes: (T, V) probabilities, row t after reading tokens[0..t].
#pragma once
#include <vector>

#include "experiments/regbench/dfa.hpp"

namespace mosaic::regbench {

// n >= 1 (n = 1: the sequence's letter counts so far).
std::vector<float> ngram_probs(const Task& task, int n);

}  // namespace mosaic::regbench
