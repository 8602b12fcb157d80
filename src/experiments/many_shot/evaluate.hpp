// Scoring a language model on the many-shot task (task.hpp): fresh sequences of `rounds`
// rounds, one forward pass each (past the model's block_size where it can run there), and at every
// label the argmax of the logits over the whole vocabulary against the true label. Accuracy by
// shots (earlier examples of the same class in the context), the mean over sequences with its
// standard error (labels of one sequence share its classes, so the sequence is the unit).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "experiments/many_shot/task.hpp"
#include "models/language_model.hpp"

namespace mosaic::many_shot {

struct ShotAccuracy {
  Task task;
  int rounds = 0, sequences = 0;
  std::vector<double> accuracy, stderr_of_mean;  // [shots], shots = 0 .. rounds - 1
};

ShotAccuracy evaluate(LanguageModel<float>& model, const Task& task, int rounds, int sequences, uint64_t seed,
                      int batch = 8, const std::function<void(int, int)>& progress = nullptr);

}  // namespace mosaic::many_shot
