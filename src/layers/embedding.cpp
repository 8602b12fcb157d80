// Embedding: row gather forward, scatter-add backward.
#include "layers/embedding.hpp"

#include <cstring>

namespace mosaic {

template <class F>
void Embedding<F>::lookup(F* y_out, const int32_t* token_ids, int64_t rows) const {
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(y_out + i * C, weight.value + static_cast<int64_t>(token_ids[i]) * C, C * sizeof(F));
}

template <class F>
const F* Embedding<F>::forward(const int32_t* token_ids, int64_t rows) {
  ids = token_ids;
  N = rows;
  lookup(y.data(), ids, N);
  return y.data();
}

template <class F>
void Embedding<F>::backward(const F* dy) {
  for (int64_t i = 0; i < N; ++i) {
    F* g = weight.grad + static_cast<int64_t>(ids[i]) * C;
    for (int c = 0; c < C; ++c) g[c] += dy[i * C + c];
  }
}

template struct Embedding<float>;
template struct Embedding<double>;

}  // namespace mosaic
