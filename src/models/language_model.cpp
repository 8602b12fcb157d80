// Checks at the models' public entry point.
#include "models/language_model.hpp"

#include <omp.h>

#include <algorithm>

#include "core/error.hpp"

namespace mosaic {

template <class F>
F LanguageModel<F>::forward(const int32_t* idx, const int32_t* targets, int B, int T) {
  check_inputs(idx, targets, B, T);
  return forward_checked(idx, targets, B, T, targets ? Pass::Train : Pass::Logits);
}

template <class F>
F LanguageModel<F>::evaluate(const int32_t* idx, const int32_t* targets, int B, int T) {
  MOSAIC_CHECK(targets, "evaluate needs targets", "pass the next-token ids (-1 to ignore a position)");
  check_inputs(idx, targets, B, T);
  return forward_checked(idx, targets, B, T, Pass::Evaluate);
}

template <class F>
void LanguageModel<F>::check_inputs(const int32_t* idx, const int32_t* targets, int B, int T) const {
  MOSAIC_CHECK(B > 0 && T > 0, "empty batch", "pass at least one token");
  MOSAIC_CHECK(T <= config_.block_size,
               "sequence of " + std::to_string(T) + " tokens exceeds block_size " + std::to_string(config_.block_size),
               "crop the context to block_size tokens");
  const int64_t N = static_cast<int64_t>(B) * T;
  for (int64_t i = 0; i < N; ++i) {
    MOSAIC_CHECK(idx[i] >= 0 && idx[i] < config_.vocab_size,
                 "token id " + std::to_string(idx[i]) + " outside the vocabulary of " + std::to_string(config_.vocab_size),
                 "the data and the model must use the same tokenizer");
    MOSAIC_CHECK(!targets || (targets[i] >= -1 && targets[i] < config_.vocab_size),
                 "target id " + std::to_string(targets[i]) + " outside the vocabulary", "use -1 to ignore a position");
  }
}

template <class F>
void LanguageModel<F>::fit(int B, int T, int64_t logits_rows) {
  const Capacity& c = capacity_;
  const int threads = omp_get_max_threads();
  if (B <= c.B && T <= c.T && logits_rows <= c.logits_rows && threads == c.threads) return;
  capacity_ = {std::max(B, c.B), std::max(T, c.T), std::max(logits_rows, c.logits_rows), threads};
  activations_ = Activations<F>();  // the old arena goes before the new one is allocated
  plan(activations_, capacity_.B, capacity_.T, capacity_.logits_rows);
  activations_.allocate();
}

template class LanguageModel<float>;
template class LanguageModel<double>;

}  // namespace mosaic
