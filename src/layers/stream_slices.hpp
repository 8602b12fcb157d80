// Several streams stepped at once. A step's matrices hold slice 0's rows, then slice 1's, and so
// on: every layer runs its products (projections, the persistent memory, the vocabulary head)
// over all the rows together, and advances what each stream carries from step to step (leaky
// averages, the value look-ahead, memory stores, KV caches) slice by slice. One stream's step is
// one slice. The first slice's stream lends its scratch to the whole step, so the slices' rows
// add up to at most its max_rows (the decoder checks). Not a stream and not a scheduler.
#pragma once
#include <span>
#include <type_traits>
#include <vector>

namespace mosaic {

template <class S>
struct StreamSlice {
  S* stream;
  int rows;  // this stream's rows, after the previous slices' in the step's matrices
};

template <class S>
using StreamSlices = std::span<const StreamSlice<S>>;

template <class S>
int total_rows(StreamSlices<S> slices) {
  int n = 0;
  for (const auto& s : slices) n += s.rows;
  return n;
}

// The same rows, each stream replaced by one of its layers' streams: part(stream) -> that stream.
template <class S, class Part>
auto slices_of(StreamSlices<S> slices, Part part) {
  using Child = std::remove_reference_t<decltype(part(*slices.front().stream))>;
  std::vector<StreamSlice<Child>> out;
  out.reserve(slices.size());
  for (const auto& s : slices) out.push_back({&part(*s.stream), s.rows});
  return out;
}

}  // namespace mosaic
