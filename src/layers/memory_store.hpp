// The live (key, value) store of one contextual-memory head in a stream, its eviction policy
// when a bound is set, and how it retrieves: exactly, y = sum_i softmax_i(beta q . k_i) v_i over
// every stored pair (kernels/attention.hpp), or approximately, the same softmax over the union
// of the top-K keys an HNSW index finds (hnswlib, inner product of L2-normalised keys) and the W
// newest pairs. The state behind ContextualMemory::step; a memory file holds it (save / load).
// Shapes: keys, values (n, hs) row-major, n <= max_pairs when bounded; q, y (hs); weights (n),
// or (selected) after an approximate query.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/stream_state.hpp"

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

// How a store retrieves. Approximate: the keys also go into an HNSW graph (one insertion per
// stored pair, from the first); a query reads the union of the graph's top_k keys and the
// `recent` newest pairs, deduplicated, with the exact softmax over that union. Exact while the
// store holds fewer than min_pairs pairs or at most top_k (then the top_k are all of them).
// Float stores only: hnswlib indexes float vectors, so float64 streams (tests) are exact.
enum class MemoryBackend { Exact, Approximate };

struct RetrievalOptions {
  MemoryBackend backend = MemoryBackend::Exact;
  int top_k = 32;            // K: keys the index returns per query
  int recent = 32;           // W: newest pairs always read
  int min_pairs = 8192;      // exact below this many pairs
  int hnsw_m = 16;           // graph degree (hnswlib's M; 2M links per key on the bottom layer)
  int ef_construction = 64;  // candidates kept while inserting a key
  int ef_search = 64;        // candidates kept while searching (at least top_k)
  bool audit = false;        // also retrieve exactly at each approximate query and keep the comparison
};

MemoryBackend parse_memory_backend(const std::string& name);  // "exact" or "approx"; Error otherwise
// One line for logs: "exact retrieval" or "approximate retrieval (top 32 by HNSW ...)".
std::string describe_retrieval(const RetrievalOptions& retrieval);
// Error with a hint for values the index cannot take.
void check_retrieval(const RetrievalOptions& retrieval);

// Approximate against exact, summed over the audited queries (RetrievalOptions::audit): the share of
// the true top-K keys the index found, and the total-variation distance between the exact
// weights and the approximate ones (zero outside the union).
struct RetrievalAudit {
  int64_t queries = 0;
  double recall = 0, tvd = 0;  // sums over queries
  RetrievalAudit& operator+=(const RetrievalAudit& o) {
    queries += o.queries;
    recall += o.recall;
    tvd += o.tvd;
    return *this;
  }
};

class KeyIndex;  // the HNSW graph (memory_store.cpp: the one file that includes hnswlib)

template <class F>
class MemoryStore {
 public:
  MemoryStore(int head_size, MemoryLimit limit, RetrievalOptions retrieval = {});
  MemoryStore(MemoryStore&&) noexcept;
  MemoryStore& operator=(MemoryStore&&) noexcept;
  ~MemoryStore();

  void clear();
  // Room for `pairs` pairs without growing (an unbounded store; a bounded one has its room).
  void reserve(int pairs);
  // Stores (key, value) of position `step`; when full, first evicts one pair by the policy
  // and reuses its slot (slot order is irrelevant: softmax retrieval is order-free), in the
  // index too (the evicted key's node takes the new key).
  void add(const F* key, const F* value, int64_t step);
  // y = sum_i softmax_i(beta q . k_i) v_i over the stored pairs (approximate: over the
  // selected ones), y = 0 when there are none. `step` is the query's position, recorded as the
  // last use of pairs above the threshold.
  void query(const F* q, F* y, int64_t step, F beta = F(1));
  // Whether `pairs` more pairs can be added and then read by query_rows: no pair evicted and
  // every read exact, so the pairs each query sees are the first slots.
  bool reads_prefixes(int pairs) const;
  // A chunk of queries after their pairs were added: query r (position first_step + r) reads
  // the first counts[r] slots with bandwidth betas[r], as query() would have when the store held
  // that many; the products on gemm (a prompt's rows). weights() are the last query's.
  // Shapes: q (rows, hs) stride ldq, y (rows, hs) stride ldy; counts, betas (rows).
  void query_rows(const F* q, int ldq, F* y, int ldy, const int* counts, const F* betas, int rows, int64_t first_step);

  int size() const { return n_; }
  int head_size() const { return hs_; }
  const MemoryLimit& limit() const { return limit_; }
  const RetrievalOptions& retrieval() const { return retrieval_; }
  // Per slot, for tests and inspection: the position a pair was stored for; the weights of the
  // last query, one per slot after an exact query, one per selected() slot after an approximate one.
  int64_t position_of(int slot) const { return position_[slot]; }
  const F* weights() const { return scores_.data(); }
  // The slots the last query read, ascending; empty when it read them all (exact).
  std::span<const int> selected() const { return selected_; }
  const RetrievalAudit& audit() const { return audit_; }

  // The store under `prefix`: its pairs, positions, uses, ring positions and, when approximate,
  // the index's graph (so a loaded store continues exactly as the saved one would have).
  void save(StreamState& out, const std::string& prefix) const;
  // Replaces the store with the one saved under `prefix`: sizes checked against this store's
  // head size and limit; the graph taken when it was built with this store's M and
  // ef_construction, else built again from the keys in slot order.
  void load(const StreamState& in, const std::string& prefix);

 private:
  int victim() const;  // slot to overwrite when full
  void grow(size_t rows);
  bool approximate_now() const;
  void query_approximate(const F* q, F* y, F beta);
  void audit_query(const F* q, F beta);

  int hs_;
  MemoryLimit limit_;
  RetrievalOptions retrieval_;
  int n_ = 0;
  int64_t stored_ = 0;                   // pairs ever stored (oldest-first ring position)
  std::vector<F> keys_, values_;         // (capacity, hs)
  std::vector<F> scores_;                // the last query's weights: (n), or (selected)
  std::vector<int64_t> position_, last_used_;
  // approximate retrieval
  std::unique_ptr<KeyIndex> index_;
  std::vector<int> recent_;              // ring of the slots of the last `recent` pairs stored
  std::vector<int> selected_;            // the last approximate query's union, ascending
  std::vector<F> gathered_;              // its keys then values, (2, selected, hs)
  std::vector<int> found_;                // audit: the index's own top-K of the last query
  std::vector<F> exact_y_, exact_weights_;  // audit scratch
  RetrievalAudit audit_;
};

}  // namespace mosaic
