// Bucketed gradient averaging: a queue of ranges, one thread that reduces them in order.
#include "dist/gradient_reducer.hpp"

#include <algorithm>
#include <chrono>

namespace mosaic {

GradientReducer::GradientReducer(Communicator& world, float* grads, size_t n, bool overlap)
    : world_(world), grads_(grads), n_(n), overlap_(overlap && world.distributed() && world.thread_safe_calls()) {
  if (overlap_) thread_ = std::thread([this] { reduce_queued(); });
}

GradientReducer::~GradientReducer() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  work_.notify_one();
  thread_.join();
}

void GradientReducer::ready(std::pair<size_t, size_t> range) {
  if (!overlap_) return;
  handed_.push_back(range);
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(range);
  }
  work_.notify_one();
}

void GradientReducer::reduce_queued() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return quit_ || !queue_.empty(); });
    if (queue_.empty()) return;  // quit
    const auto [begin, end] = queue_.front();
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    world_.allreduce_sum(grads_ + begin, end - begin);  // the main thread makes no MPI call meanwhile
    lock.lock();
    busy_ = false;
    if (queue_.empty()) done_.notify_all();
  }
}

double GradientReducer::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  if (!overlap_) {
    world_.allreduce_sum(grads_, n_);
  } else {
    std::sort(handed_.begin(), handed_.end());
    std::vector<std::pair<size_t, size_t>> gaps;
    size_t at = 0;
    for (const auto& [begin, end] : handed_) {
      if (begin > at) gaps.emplace_back(at, begin);
      at = std::max(at, end);
    }
    if (at < n_) gaps.emplace_back(at, n_);
    for (const auto& gap : gaps) ready(gap);
    handed_.clear();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return queue_.empty() && !busy_; });
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const float inv = 1.0f / static_cast<float>(world_.size());
  for (size_t i = 0; i < n_; ++i) grads_[i] *= inv;
  return waited;
}

}  // namespace mosaic
