// The live (key, value) store of one contextual-memory head in a stream, and its eviction
// policy when a bound is set: the state behind ContextualMemory::step. Keys and values arrive
// already extracted; retrieval is y = sum_i softmax_i(q . k_i) v_i (kernels/attention.hpp).
// Shapes: keys, values (n, hs) row-major, n <= max_pairs when bounded; q, y (hs); weights (n).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mosaic {

// Which pair makes room when a bounded store is full:
//  Oldest:            the pair stored first (a sliding window over the last max_pairs positions).
//  LeastRecentlyUsed: the pair whose last use is oldest, where a query uses a pair when its
//                     attention weight exceeds lru_threshold (the paper's suggestion); a new
//                     pair counts as used when stored; ties go to the pair stored first.
enum class Eviction { Oldest, LeastRecentlyUsed };

struct MemoryLimit {
  int max_pairs = 0;            // per head; 0 = unbounded
  Eviction policy = Eviction::Oldest;
  float lru_threshold = 0.01f;  // attention weight above which a pair counts as used
};

// "oldest" or "lru"; Error with a hint otherwise.
Eviction parse_eviction(const std::string& name);
std::string eviction_name(Eviction policy);
// One line for logs: "unbounded memory", "256 pairs per head, evict oldest", ...
std::string describe_limit(const MemoryLimit& limit);

template <class F>
class MemoryStore {
 public:
  MemoryStore(int head_size, MemoryLimit limit);

  void clear();
  // Stores (key, value) of position `step`; when full, first evicts one pair by the policy
  // and reuses its slot (slot order is irrelevant: softmax retrieval is order-free).
  void add(const F* key, const F* value, int64_t step);
  // y = sum_i softmax_i(beta q . k_i) v_i over the stored pairs, y = 0 when there are none.
  // `step` is the query's position, recorded as the last use of pairs above the threshold.
  void query(const F* q, F* y, int64_t step, F beta = F(1));

  int size() const { return n_; }
  int head_size() const { return hs_; }
  const MemoryLimit& limit() const { return limit_; }
  // Per slot, for tests and inspection: the position a pair was stored for, and the
  // attention weights of the last query.
  int64_t position_of(int slot) const { return position_[slot]; }
  const F* weights() const { return scores_.data(); }

 private:
  int victim() const;  // slot to overwrite when full

  int hs_;
  MemoryLimit limit_;
  int n_ = 0;
  int64_t stored_ = 0;                   // pairs ever stored (oldest-first ring position)
  std::vector<F> keys_, values_;         // (capacity, hs)
  std::vector<F> scores_;                // (n): the last query's weights
  std::vector<int64_t> position_, last_used_;
};

}  // namespace mosaic
