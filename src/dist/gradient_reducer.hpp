// Averages a gradient arena over the ranks of a data-parallel run. With overlap, ranges handed
// over by ready() (a block whose backward pass is done) are summed by MPI_Allreduce on a
// thread of its own while the main thread goes on with the earlier blocks; finish() sums what
// was not handed over (the embeddings, the last LayerNorm, padding), waits, and divides by
// the number of ranks. Without overlap, finish() sums the whole arena at once. Either way
// every element is the same sum of the same ranks' values: the weights do not depend on it.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "dist/communicator.hpp"

namespace mosaic {

class GradientReducer {
 public:
  // grads: n floats, kept by the caller. overlap needs MPI_THREAD_SERIALIZED (else off).
  GradientReducer(Communicator& world, float* grads, size_t n, bool overlap);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  bool overlapping() const { return overlap_; }
  // Elements [begin, end) are final for this step (overlap only; ignored otherwise).
  void ready(std::pair<size_t, size_t> range);
  // Every element summed and divided by the number of ranks. Returns the seconds this thread
  // waited for communication (the part the backward pass did not hide).
  double finish();

 private:
  void reduce_queued();  // the thread's loop

  Communicator& world_;
  float* grads_;
  size_t n_;
  bool overlap_;
  std::vector<std::pair<size_t, size_t>> handed_;  // this step's ranges, for finish()'s gaps
  std::mutex mutex_;
  std::condition_variable work_, done_;
  std::deque<std::pair<size_t, size_t>> queue_;
  bool busy_ = false, quit_ = false;
  std::thread thread_;
};

}  // namespace mosaic
