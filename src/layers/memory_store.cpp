// Memory store: contiguous keys and values, softmax retrieval with the streaming attention
// kernel (kernels/attention.hpp, shared with the GPT's KV cache), eviction by ring position (oldest) or by a linear scan for the least
// recently used pair (O(max_pairs), below the cost of the query that follows it).
#include "layers/memory_store.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"
#include "kernels/attention.hpp"

namespace mosaic {

Eviction parse_eviction(const std::string& name) {
  if (name == "oldest") return Eviction::Oldest;
  if (name == "lru") return Eviction::LeastRecentlyUsed;
  throw Error("unknown eviction policy '" + name + "'", "use --evict oldest or --evict lru");
}

std::string eviction_name(Eviction policy) { return policy == Eviction::Oldest ? "oldest" : "lru"; }

std::string describe_limit(const MemoryLimit& m) {
  if (m.max_pairs == 0) return "unbounded memory";
  std::string s = std::to_string(m.max_pairs) + " pairs per head, evict " + eviction_name(m.policy);
  if (m.policy == Eviction::LeastRecentlyUsed) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " (used: weight > %g)", m.lru_threshold);
    s += buf;
  }
  return s;
}

template <class F>
MemoryStore<F>::MemoryStore(int head_size, MemoryLimit limit) : hs_(head_size), limit_(limit) {
  MOSAIC_CHECK(limit.max_pairs >= 0, "memory limit must be >= 0", "0 keeps every pair");
  if (limit_.max_pairs > 0) {  // bounded: allocate once
    keys_.resize(static_cast<size_t>(limit_.max_pairs) * hs_);
    values_.resize(keys_.size());
    scores_.resize(limit_.max_pairs);
    position_.resize(limit_.max_pairs);
    last_used_.resize(limit_.max_pairs);
  }
}

template <class F>
void MemoryStore<F>::clear() {
  n_ = 0;
  stored_ = 0;
}

template <class F>
int MemoryStore<F>::victim() const {
  if (limit_.policy == Eviction::Oldest) return static_cast<int>(stored_ % limit_.max_pairs);
  int best = 0;
  for (int i = 1; i < n_; ++i)
    if (last_used_[i] < last_used_[best] || (last_used_[i] == last_used_[best] && position_[i] < position_[best]))
      best = i;
  return best;
}

template <class F>
void MemoryStore<F>::add(const F* key, const F* value, int64_t step) {
  int slot = n_;
  if (limit_.max_pairs > 0 && n_ == limit_.max_pairs) {
    slot = victim();
  } else if (limit_.max_pairs == 0 && static_cast<size_t>(n_ + 1) * hs_ > keys_.size()) {
    const size_t rows = std::max<size_t>(64, 2 * static_cast<size_t>(n_));  // amortised growth
    keys_.resize(rows * hs_);
    values_.resize(rows * hs_);
    scores_.resize(rows);
    position_.resize(rows);
    last_used_.resize(rows);
  }
  std::memcpy(keys_.data() + static_cast<int64_t>(slot) * hs_, key, hs_ * sizeof(F));
  std::memcpy(values_.data() + static_cast<int64_t>(slot) * hs_, value, hs_ * sizeof(F));
  position_[slot] = step;
  last_used_[slot] = step;
  if (slot == n_) ++n_;
  ++stored_;
}

template <class F>
void MemoryStore<F>::query(const F* q, F* y, int64_t step, F beta) {
  // No 1/sqrt(hs): the keys (v1) or beta (v2) carry the scale. y_0 = 0: nothing to retrieve yet.
  attention_row(y, scores_.data(), q, keys_.data(), values_.data(), n_, hs_, beta);
  const F* s = scores_.data();
  if (limit_.max_pairs > 0 && limit_.policy == Eviction::LeastRecentlyUsed)
    for (int i = 0; i < n_; ++i)
      if (s[i] > limit_.lru_threshold) last_used_[i] = step;
}

template class MemoryStore<float>;
template class MemoryStore<double>;

}  // namespace mosaic
