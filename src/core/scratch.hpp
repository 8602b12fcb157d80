// Per-thread scratch arrays for the kernels' small temporaries (per-channel coefficients,
// per-channel partial sums): allocated on first use and when they grow, so that training steps
// of fixed shapes allocate nothing (tests/test_allocations.cpp). Each Tag type names an
// independent buffer, for kernels that need several at once. Contents are not initialised.
#pragma once
#include <cstddef>
#include <vector>

namespace mosaic {

template <class F, class Tag>
F* thread_scratch(size_t n) {
  thread_local std::vector<F> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

}  // namespace mosaic
