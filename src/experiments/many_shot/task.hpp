// Many-shot in-context classification, a synthetic stand-in for the paper's LongICLBench tasks
// with anonymous labels (arXiv 2507.03285, section 5.3): every sequence draws new classes and new
// labels, so nothing but the examples in its context says which label a class carries. A class is
// a random set of `class_words` words; an example of it is `example_len` words, each from its set
// with probability `purity`, else any word. A round shows one example of every class in random
// order, `w w w w SEP label DELIM`; a sequence is `rounds` rounds. The label after an example of a
// class seen k times before in the sequence is a k-shot prediction. Not a trainer or a scorer.
// Token ids: words [0, words), labels [words, words + labels), then SEP, DELIM, end of sequence.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"

namespace mosaic::many_shot {

struct Task {
  int words = 64, labels = 32, classes = 8, class_words = 8, example_len = 4;
  double purity = 0.8;

  int sep() const { return words + labels; }
  int delim() const { return sep() + 1; }
  int end() const { return sep() + 2; }
  int vocab() const { return sep() + 3; }
  int round_tokens() const { return classes * (example_len + 3); }
  void validate() const;  // Error with a hint for impossible sizes
};

// One sequence of `rounds` rounds. label_positions[i]: the index of a label token (the model
// predicts it from the position before); shots[i]: how many earlier examples of its class the
// sequence holds.
struct Sequence {
  std::vector<int32_t> tokens;
  std::vector<int> label_positions, shots;
};
Sequence make_sequence(const Task& task, int rounds, Rng& rng);

// Training text: sequences of 1 .. max_rounds rounds, each followed by the end token, until
// `tokens` tokens; written as token shards train.bin and val.bin (llm.c format) in `dir`.
void write_shards(const Task& task, const std::string& dir, int64_t train_tokens, int64_t val_tokens, int max_rounds,
                  uint64_t seed);

}  // namespace mosaic::many_shot
