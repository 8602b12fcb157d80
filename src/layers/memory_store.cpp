// Memory store: contiguous keys and values, softmax retrieval with the streaming attention
// kernel (kernels/attention.hpp, shared with the GPT's KV cache), eviction by ring position
// (oldest) or by a linear scan for the least recently used pair (O(max_pairs), below the cost of
// the query that follows it). Approximate retrieval gathers the selected pairs and runs the same
// kernel on them, so a union that is every pair gives exact retrieval's bits. The HNSW graph is
// hnswlib's, built without its SSE/AVX code (whose prefetches read one link past the end of a
// list: AddressSanitizer stops it) and with our dot kernel as its distance; saving and restoring
// the graph reads hnswlib 0.6's public members, checked on the way in.
#include "layers/memory_store.hpp"

#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <type_traits>

#include "core/error.hpp"
#include "kernels/attention.hpp"
#include "kernels/matvec.hpp"

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

MemoryBackend parse_memory_backend(const std::string& name) {
  if (name == "exact") return MemoryBackend::Exact;
  if (name == "approx") return MemoryBackend::Approximate;
  throw Error("unknown memory backend '" + name + "'", "use --memory exact or --memory approx");
}

std::string describe_retrieval(const RetrievalOptions& r) {
  if (r.backend == MemoryBackend::Exact) return "exact retrieval";
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "approximate retrieval (top %d by HNSW, M %d, ef %d/%d, + newest %d; exact below %d pairs)", r.top_k,
                r.hnsw_m, r.ef_construction, r.ef_search, r.recent, r.min_pairs);
  return buf;
}

void check_retrieval(const RetrievalOptions& r) {
  MOSAIC_CHECK(r.top_k >= 1 && r.recent >= 0 && r.min_pairs >= 0, "--approx-k must be >= 1, --approx-recent and --approx-min-pairs >= 0",
               "e.g. --approx-k 32 --approx-recent 32");
  MOSAIC_CHECK(r.hnsw_m >= 2 && r.hnsw_m <= 256, "--hnsw-m " + std::to_string(r.hnsw_m) + " is outside [2, 256]",
               "16 is hnswlib's usual degree");
  MOSAIC_CHECK(r.ef_construction >= 1 && r.ef_search >= 1, "--hnsw-ef-construction and --hnsw-ef must be >= 1",
               "larger values find more true neighbours and cost more");
}

// ---- the HNSW graph over one head's keys ----

// hnswlib's inner-product space on our dot kernel: distance 1 - a . b (smaller is nearer).
class InnerProductSpace : public hnswlib::SpaceInterface<float> {
 public:
  explicit InnerProductSpace(size_t dim) : dim_(dim) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return distance; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  static float distance(const void* a, const void* b, const void* dim) {
    return 1.0f - dot(static_cast<const float*>(a), static_cast<const float*>(b), static_cast<int>(*static_cast<const size_t*>(dim)));
  }
  size_t dim_;
};

// A graph node per slot, labelled by its slot; a slot that takes a new pair moves its node to
// the new key (hnswlib's updatePoint). Keys go in L2-normalised: the ranking by inner product is
// then by cosine, which is the ranking of q . k_i when a head's keys share one norm (a
// Memory Mosaic's keys are normalised, then scaled per head).
class KeyIndex {
 public:
  using Graph = hnswlib::HierarchicalNSW<float>;
  static_assert(std::is_same_v<std::default_random_engine, std::minstd_rand0>,
                "the graph's random state is saved as minstd_rand0's one number");
  static constexpr size_t kSeed = 100;  // hnswlib's default: every index draws the same levels

  KeyIndex(int dim, const RetrievalOptions& r, size_t capacity) : dim_(dim), m_(r.hnsw_m), ef_construction_(r.ef_construction),
                                                           ef_search_(r.ef_search), space_(dim), unit_(dim) {
    graph_ = fresh(capacity);
  }

  void grow(size_t capacity) {
    if (capacity > graph_->max_elements_) graph_->resizeIndex(capacity);
  }
  int count() const { return static_cast<int>(graph_->cur_element_count); }

  // The slot's node takes `key`: a new node for the next slot, else the slot's node moves.
  void put(int slot, const float* key) {
    normalise(key);
    graph_->addPoint(unit_.data(), static_cast<hnswlib::labeltype>(slot));
  }

  // Appends the slots of the k nearest keys to q; returns how many.
  int search(const float* q, int k, std::vector<int>& out) const {
    normalise(q);
    auto found = graph_->searchKnn(unit_.data(), static_cast<size_t>(k));
    const int m = static_cast<int>(found.size());
    for (; !found.empty(); found.pop()) out.push_back(static_cast<int>(found.top().second));
    return m;
  }

  bool built_like(const StreamState& in, const std::string& p) const {
    if (!in.has(p + "params")) return false;
    const auto params = in.take<int64_t>(p + "params", {2});
    return params[0] == m_ && params[1] == ef_construction_;
  }

  // The graph as tensors: each node's level, bottom-layer and upper-layer link lists (hnswlib's
  // rows: a count, then the linked slots, unused entries zeroed), the entry point, and the two
  // random generators' states (the levels of nodes still to come).
  void save(StreamState& out, const std::string& p) const {
    const Graph& g = *graph_;
    const int n = count(), row0 = static_cast<int>(g.maxM0_) + 1, row = static_cast<int>(g.maxM_) + 1;
    std::vector<int32_t> levels(n), links0(static_cast<size_t>(n) * row0), links;
    for (int i = 0; i < n; ++i) {
      levels[i] = g.element_levels_[i];
      canonical_row(links0.data() + static_cast<int64_t>(i) * row0, g.get_linklist0(i));
      for (int l = 1; l <= levels[i]; ++l) {
        links.resize(links.size() + row);
        canonical_row(links.data() + links.size() - row, g.get_linklist(i, l));
      }
    }
    const int64_t params[2] = {m_, ef_construction_};
    const int64_t entry[4] = {n ? static_cast<int64_t>(g.enterpoint_node_) : -1, g.maxlevel_, engine_state(g.level_generator_),
                              engine_state(g.update_probability_generator_)};
    out.put(p + "params", {2}, params);
    out.put(p + "levels", {n}, levels.data());
    out.put(p + "links0", {n, row0}, links0.data());
    out.put(p + "links", {static_cast<int64_t>(links.size() / row), row}, links.data());
    out.put(p + "entry", {4}, entry);
  }

  // Into this empty index with room for n: the saved graph over keys (n, dim) in slot order,
  // after checking that every link stays inside the graph (a damaged file gives an Error, never
  // a read out of bounds).
  void restore(const StreamState& in, const std::string& p, const float* keys, int n) {
    Graph& g = *graph_;
    MOSAIC_CHECK(count() == 0 && g.max_elements_ >= static_cast<size_t>(n), "restoring a graph into a used index", "a bug: report it");
    const int row0 = static_cast<int>(g.maxM0_) + 1, row = static_cast<int>(g.maxM_) + 1;
    const auto levels = in.take<int32_t>(p + "levels", {n});
    const auto links0 = in.take<int32_t>(p + "links0", {n, row0});
    const auto entry = in.take<int64_t>(p + "entry", {4});
    int64_t upper = 0;
    for (int32_t l : levels) {
      MOSAIC_CHECK(l >= 0 && l < kMaxLevel, "memory " + p + "levels holds level " + std::to_string(l), kDamaged);
      upper += l;
    }
    const auto links = in.take<int32_t>(p + "links", {upper, row});
    const int top = n ? *std::max_element(levels.begin(), levels.end()) : -1;
    MOSAIC_CHECK(n ? entry[0] >= 0 && entry[0] < n && entry[1] == top && levels[entry[0]] == top : entry[0] == -1 && entry[1] == -1,
                 "memory " + p + "entry names no top node of the graph", kDamaged);
    for (int i : {2, 3})
      MOSAIC_CHECK(entry[i] >= 1 && entry[i] < 2147483647, "memory " + p + "entry holds no random state", kDamaged);
    int64_t at = 0;
    for (int i = 0; i < n; ++i) {
      check_row(links0.data() + static_cast<int64_t>(i) * row0, g.maxM0_, i, 0, levels, p);
      for (int l = 1; l <= levels[i]; ++l, at += row) check_row(links.data() + at, g.maxM_, i, l, levels, p);
    }
    at = 0;
    for (int i = 0; i < n; ++i) {
      normalise(keys + static_cast<int64_t>(i) * dim_);
      std::memcpy(g.getDataByInternalId(i), unit_.data(), g.data_size_);
      g.setExternalLabel(i, static_cast<hnswlib::labeltype>(i));
      std::memcpy(g.get_linklist0(i), links0.data() + static_cast<int64_t>(i) * row0, g.size_links_level0_);
      g.element_levels_[i] = levels[i];
      if (levels[i] > 0) {  // as addPoint allocates it: the destructor frees it
        g.linkLists_[i] = static_cast<char*>(std::calloc(1, g.size_links_per_element_ * levels[i] + 1));
        MOSAIC_CHECK(g.linkLists_[i], "out of memory restoring " + p, "free memory or load a smaller memory file");
        std::memcpy(g.linkLists_[i], links.data() + at, g.size_links_per_element_ * levels[i]);
        at += static_cast<int64_t>(levels[i]) * row;
      }
      g.label_lookup_[i] = i;
      g.cur_element_count = i + 1;
    }
    g.enterpoint_node_ = static_cast<hnswlib::tableint>(entry[0]);
    g.maxlevel_ = static_cast<int>(entry[1]);
    set_engine_state(g.level_generator_, entry[2]);
    set_engine_state(g.update_probability_generator_, entry[3]);
  }

 private:
  static constexpr int kMaxLevel = 64;  // levels are -ln(U) / ln(M): below 8 for any 31-bit U and M >= 16
  static constexpr const char* kDamaged = "the memory file is damaged; write it again with --save-memory";

  std::unique_ptr<Graph> fresh(size_t capacity) {
    auto g = std::make_unique<Graph>(&space_, std::max<size_t>(capacity, 1), m_, ef_construction_, kSeed);
    g->setEf(ef_search_);
    g->metric_distance_computations = 0;  // hnswlib leaves its search counters uninitialised
    g->metric_hops = 0;
    return g;
  }

  void normalise(const float* key) const {
    double sum = 0;
    for (int d = 0; d < dim_; ++d) sum += static_cast<double>(key[d]) * key[d];
    const float inv = sum > 0 ? static_cast<float>(1.0 / std::sqrt(sum)) : 0.0f;
    for (int d = 0; d < dim_; ++d) unit_[d] = key[d] * inv;
  }

  // A link list row with the entries past its count zeroed, so that a saved graph has one form.
  static void canonical_row(int32_t* out, const hnswlib::linklistsizeint* list) {
    const int count = *reinterpret_cast<const unsigned short*>(list);  // hnswlib's getListCount
    out[0] = static_cast<int32_t>(list[0]);
    std::memcpy(out + 1, list + 1, static_cast<size_t>(count) * sizeof(int32_t));  // the rest: the caller's zeros
  }

  static void check_row(const int32_t* r, size_t max_links, int node, int level, const std::vector<int32_t>& levels,
                        const std::string& p) {
    const uint32_t header = static_cast<uint32_t>(r[0]);
    const size_t count = header & 0xffff;
    MOSAIC_CHECK(header >> 16 == 0 && count <= max_links,
                 "memory " + p + ": node " + std::to_string(node) + " has a bad link list at level " + std::to_string(level), kDamaged);
    for (size_t j = 0; j < count; ++j) {
      const int32_t to = r[1 + j];
      MOSAIC_CHECK(to >= 0 && to < static_cast<int64_t>(levels.size()) && to != node && levels[to] >= level,
                   "memory " + p + ": node " + std::to_string(node) + " links to " + std::to_string(to) + " at level " +
                       std::to_string(level) + ", which is not in the graph there",
                   kDamaged);
    }
  }

  static int64_t engine_state(const std::minstd_rand0& e) {
    std::ostringstream s;
    s << e;
    return std::stoll(s.str());
  }
  static void set_engine_state(std::minstd_rand0& e, int64_t state) {
    std::istringstream s(std::to_string(state));
    s >> e;
  }

  int dim_, m_, ef_construction_, ef_search_;
  InnerProductSpace space_;
  std::unique_ptr<Graph> graph_;
  mutable std::vector<float> unit_;  // the normalised key or query
};

// ---- the store ----

template <class F>
MemoryStore<F>::MemoryStore(int head_size, MemoryLimit limit, RetrievalOptions retrieval)
    : hs_(head_size), limit_(limit), retrieval_(retrieval) {
  MOSAIC_CHECK(limit.max_pairs >= 0, "memory limit must be >= 0", "0 keeps every pair");
  if (retrieval_.backend == MemoryBackend::Approximate) {
    MOSAIC_CHECK((std::is_same_v<F, float>), "approximate retrieval in a float64 stream",
                 "hnswlib indexes float keys: float64 streams retrieve exactly");
    check_retrieval(retrieval_);
    index_ = std::make_unique<KeyIndex>(hs_, retrieval_, limit_.max_pairs > 0 ? limit_.max_pairs : 1024);
  }
  if (limit_.max_pairs > 0) grow(limit_.max_pairs);  // bounded: allocate once
}

template <class F>
MemoryStore<F>::MemoryStore(MemoryStore&&) noexcept = default;
template <class F>
MemoryStore<F>& MemoryStore<F>::operator=(MemoryStore&&) noexcept = default;
template <class F>
MemoryStore<F>::~MemoryStore() = default;

template <class F>
void MemoryStore<F>::clear() {
  n_ = 0;
  stored_ = 0;
  recent_.clear();
  selected_.clear();
  if (index_) index_ = std::make_unique<KeyIndex>(hs_, retrieval_, keys_.size() / hs_);
}

template <class F>
void MemoryStore<F>::grow(size_t rows) {
  keys_.resize(rows * hs_);
  values_.resize(rows * hs_);
  scores_.resize(std::max<size_t>(rows, static_cast<size_t>(retrieval_.top_k) + retrieval_.recent));
  position_.resize(rows);
  last_used_.resize(rows);
  if (index_) index_->grow(rows);
}

template <class F>
void MemoryStore<F>::reserve(int pairs) {
  if (static_cast<size_t>(pairs) * hs_ > keys_.size() && limit_.max_pairs == 0) grow(pairs);
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
    grow(std::max<size_t>(64, 2 * static_cast<size_t>(n_)));  // amortised growth
  }
  std::memcpy(keys_.data() + static_cast<int64_t>(slot) * hs_, key, hs_ * sizeof(F));
  std::memcpy(values_.data() + static_cast<int64_t>(slot) * hs_, value, hs_ * sizeof(F));
  position_[slot] = step;
  last_used_[slot] = step;
  if (slot == n_) ++n_;
  ++stored_;
  if constexpr (std::is_same_v<F, float>) {
    if (!index_) return;
    index_->put(slot, key);
    // The ring holds the newest `recent` pairs by position, oldest first: a slot that takes a
    // new pair leaves its old place and becomes the newest.
    auto at = std::find(recent_.begin(), recent_.end(), slot);
    if (at != recent_.end())
      recent_.erase(at);
    else if (static_cast<int>(recent_.size()) == retrieval_.recent && !recent_.empty())
      recent_.erase(recent_.begin());
    if (retrieval_.recent > 0) recent_.push_back(slot);
  }
}

template <class F>
bool MemoryStore<F>::approximate_now() const {
  return index_ && n_ >= retrieval_.min_pairs && n_ > retrieval_.top_k;
}

template <class F>
void MemoryStore<F>::query(const F* q, F* y, int64_t step, F beta) {
  if (approximate_now()) {
    query_approximate(q, y, beta);
  } else {
    selected_.clear();
    // No 1/sqrt(hs): the keys (v1) or beta (v2) carry the scale. y_0 = 0: nothing to retrieve yet.
    attention_row(y, scores_.data(), q, keys_.data(), values_.data(), n_, hs_, beta);
  }
  if (limit_.max_pairs > 0 && limit_.policy == Eviction::LeastRecentlyUsed) {
    const F* s = scores_.data();
    if (selected_.empty()) {
      for (int i = 0; i < n_; ++i)
        if (s[i] > limit_.lru_threshold) last_used_[i] = step;
    } else {
      for (size_t j = 0; j < selected_.size(); ++j)
        if (s[j] > limit_.lru_threshold) last_used_[selected_[j]] = step;
    }
  }
}

template <class F>
bool MemoryStore<F>::reads_prefixes(int pairs) const {
  const int n = n_ + pairs;
  const bool evicts = limit_.max_pairs > 0 && n > limit_.max_pairs;
  const bool approximate = index_ && n >= retrieval_.min_pairs && n > retrieval_.top_k;
  return stored_ == n_ && !evicts && !approximate;  // stored_ == n_: slots in the order stored
}

template <class F>
void MemoryStore<F>::query_rows(const F* q, int ldq, F* y, int ldy, const int* counts, const F* betas, int rows,
                                int64_t first_step) {
  assert(rows > 0 && counts[rows - 1] <= n_ && stored_ == n_);
  constexpr int64_t kBudget = 1 << 18;  // scores per tile: 1 MB of floats, about an L2
  thread_local std::vector<F> scratch;   // per thread, not per store: a server holds many stores
  const int64_t widest = std::max(1, counts[rows - 1]);  // one row's scores fit, however many pairs
  scratch.resize(std::max(widest, std::min(kBudget, widest * rows)));
  const bool lru = limit_.max_pairs > 0 && limit_.policy == Eviction::LeastRecentlyUsed;
  selected_.clear();
  attention_prefix_rows(y, ldy, scratch.data(), static_cast<int64_t>(scratch.size()), q, ldq, keys_.data(), values_.data(),
                        counts, betas, rows, hs_, [&](int r, const F* weights, int n) {
                          if (lru)
                            for (int i = 0; i < n; ++i)
                              if (weights[i] > limit_.lru_threshold) last_used_[i] = first_step + r;
                          if (r == rows - 1) std::copy_n(weights, n, scores_.data());
                        });
}

// The union of the index's top-K and the newest W, ascending and without repeats, gathered
// into one block and read by the exact kernel.
template <class F>
void MemoryStore<F>::query_approximate(const F* q, F* y, F beta) {
  if constexpr (std::is_same_v<F, float>) {
    selected_.clear();
    const int found = index_->search(q, retrieval_.top_k, selected_);
    if (retrieval_.audit) found_.assign(selected_.begin(), selected_.begin() + found);
    selected_.insert(selected_.end(), recent_.begin(), recent_.end());
    std::sort(selected_.begin(), selected_.end());
    selected_.erase(std::unique(selected_.begin(), selected_.end()), selected_.end());
    const int m = static_cast<int>(selected_.size());
    gathered_.resize(2 * static_cast<size_t>(m) * hs_);
    F* k = gathered_.data();
    F* v = k + static_cast<int64_t>(m) * hs_;
    for (int j = 0; j < m; ++j) {
      std::memcpy(k + static_cast<int64_t>(j) * hs_, keys_.data() + static_cast<int64_t>(selected_[j]) * hs_, hs_ * sizeof(F));
      std::memcpy(v + static_cast<int64_t>(j) * hs_, values_.data() + static_cast<int64_t>(selected_[j]) * hs_, hs_ * sizeof(F));
    }
    attention_row(y, scores_.data(), q, k, v, m, hs_, beta);
    if (retrieval_.audit) audit_query(q, beta);
  }
}

// Recall: the index's own top-K (found_) against the true top-K by exact weight; TVD over all
// pairs, the approximate weights being zero outside the union.
template <class F>
void MemoryStore<F>::audit_query(const F* q, F beta) {
  exact_y_.resize(hs_);
  exact_weights_.resize(n_);
  attention_row(exact_y_.data(), exact_weights_.data(), q, keys_.data(), values_.data(), n_, hs_, beta);
  const int k = retrieval_.top_k;
  std::vector<int> truth(n_);
  std::iota(truth.begin(), truth.end(), 0);
  std::nth_element(truth.begin(), truth.begin() + (k - 1), truth.end(),
                   [&](int a, int b) { return exact_weights_[a] > exact_weights_[b]; });
  truth.resize(k);
  std::sort(truth.begin(), truth.end());
  int hits = 0;
  for (int s : found_) hits += std::binary_search(truth.begin(), truth.end(), s);
  double tvd = 0, covered = 0;
  for (size_t j = 0; j < selected_.size(); ++j) {
    tvd += std::abs(static_cast<double>(exact_weights_[selected_[j]]) - scores_[j]);
    covered += exact_weights_[selected_[j]];
  }
  audit_.queries += 1;
  audit_.recall += static_cast<double>(hits) / k;
  audit_.tvd += 0.5 * (tvd + std::max(0.0, 1.0 - covered));
}

// ---- memory files ----

template <class F>
void MemoryStore<F>::save(StreamState& out, const std::string& p) const {
  out.put(p + "keys", {n_, hs_}, keys_.data());
  out.put(p + "values", {n_, hs_}, values_.data());
  out.put(p + "positions", {n_}, position_.data());
  out.put(p + "last_used", {n_}, last_used_.data());
  out.put_scalar(p + "stored", stored_);
  if (index_) index_->save(out, p + "index.");
}

template <class F>
void MemoryStore<F>::load(const StreamState& in, const std::string& p) {
  const auto keys = in.take<F>(p + "keys", {-1, hs_});
  const int64_t n = in.shape(p + "keys")[0];
  const std::string hint = "load it with the --mem-limit and --evict it was saved with";
  MOSAIC_CHECK(n < std::numeric_limits<int>::max(), "memory " + p + " holds " + std::to_string(n) + " pairs, more than a store takes",
               "the memory file is damaged; write it again with --save-memory");
  MOSAIC_CHECK(limit_.max_pairs == 0 || n <= limit_.max_pairs,
               "memory " + p + " holds " + std::to_string(n) + " pairs, over the limit of " + std::to_string(limit_.max_pairs), hint);
  auto values = in.take<F>(p + "values", {n, hs_});
  auto positions = in.take<int64_t>(p + "positions", {n});
  auto last_used = in.take<int64_t>(p + "last_used", {n});
  const int64_t stored = in.scalar<int64_t>(p + "stored");
  MOSAIC_CHECK(stored == n || (limit_.max_pairs > 0 && n == limit_.max_pairs && stored > n),
               "memory " + p + " counts " + std::to_string(stored) + " pairs stored for " + std::to_string(n) + " kept",
               "the memory file is damaged, or " + hint);
  std::unique_ptr<KeyIndex> index;
  if constexpr (std::is_same_v<F, float>) {
    if (index_) {  // the saved graph when it was built as this one would be, else a new one in slot order
      index = std::make_unique<KeyIndex>(hs_, retrieval_, std::max<size_t>(keys_.size() / hs_, n));
      if (index->built_like(in, p + "index."))
        index->restore(in, p + "index.", keys.data(), static_cast<int>(n));
      else
        for (int i = 0; i < n; ++i) index->put(i, keys.data() + static_cast<int64_t>(i) * hs_);
    }
  }
  if (static_cast<size_t>(n) * hs_ > keys_.size()) grow(n);
  std::copy(keys.begin(), keys.end(), keys_.begin());
  std::copy(values.begin(), values.end(), values_.begin());
  std::copy(positions.begin(), positions.end(), position_.begin());
  std::copy(last_used.begin(), last_used.end(), last_used_.begin());
  n_ = static_cast<int>(n);
  stored_ = stored;
  selected_.clear();
  recent_.clear();
  if (!index_) return;
  index_ = std::move(index);
  index_->grow(keys_.size() / hs_);
  std::vector<int> by_position(n_);  // the ring: the newest `recent` pairs by position, oldest first
  std::iota(by_position.begin(), by_position.end(), 0);
  std::sort(by_position.begin(), by_position.end(), [&](int a, int b) { return position_[a] < position_[b]; });
  recent_.assign(by_position.end() - std::min<int>(n_, retrieval_.recent), by_position.end());
}

template class MemoryStore<float>;
template class MemoryStore<double>;

}  // namespace mosaic
