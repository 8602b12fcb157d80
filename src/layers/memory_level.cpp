// A memory level: extractors, bandwidth-scaled queries, attention over the visible lags
// (kernels/attention.hpp, parallel over (batch, head)); its stream: pairs wait in a ring until
// old enough, then enter each head's store, whose window bounds the newest lag's reach.
#include "layers/memory_level.hpp"

#include <algorithm>
#include <exception>

#include "core/error.hpp"

namespace mosaic {

constexpr int kParallelPairs = 1024;  // stored pairs per head from which one row's heads read on the threads

template <class F>
void MemoryLevel<F>::register_params(ParamTable<F>& table, const std::string& prefix) {
  k_featurizer.register_params(table, prefix + "k_featurizer.");
  v_featurizer.register_params(table, prefix + "v_featurizer.");
  if (options.bandwidth) bandwidth.register_params(table, prefix + "bandwidth.");
}

template <class F>
void MemoryLevel<F>::plan(Activations<F>& acts, const std::string& prefix, int batch, int time) {
  k_featurizer.plan(acts, prefix + "k_featurizer.", batch, time);
  v_featurizer.plan(acts, prefix + "v_featurizer.", batch, time);
  for (auto [name, slot] : {std::pair{"dk", &dk}, {"dv", &dv}}) acts.add(prefix + name, {batch, time, C}, slot);
  acts.add(prefix + "probs", {batch, H, time, time}, &probs);
  acts.add(prefix + "dprobs", {batch, H, time, time}, &dprobs);
  if (options.bandwidth) {
    acts.add(prefix + "queries", {batch, time, C}, &queries);
    acts.add(prefix + "dq", {batch, time, C}, &dq);
    acts.add(prefix + "betas", {time, H}, &betas);
    acts.add(prefix + "dbeta", {batch, time, H}, &dbeta);
    acts.add(prefix + "dbeta_position", {time}, &dbeta_position);
  }
  counts.assign(time, 0);
}

template <class F>
void MemoryLevel<F>::set_pass(uint64_t key, bool training) {
  visible = options.visible;
  if (training && options.delay_max > 0) {
    const uint64_t span = static_cast<uint64_t>(options.delay_max - options.delay_min + 1);
    visible.min_lag = options.delay_min + static_cast<int>(mix64(key ^ 0x6c6f6e6775ull) % span);
  }
}

template <class F>
void MemoryLevel<F>::forward(F* out, int ldo, const F* x, int batch, int time, const Dropout& drop, uint64_t slice0) {
  B = batch;
  T = time;
  const int hs = C / H;
  k = k_featurizer.forward(x, B, T);
  v = v_featurizer.forward(x, B, T);
  const F* q = k;
  if (options.bandwidth) {  // softmax(beta_t k_t . k_i): the queries carry beta
    for (int t = 0; t < T; ++t) {
      counts[t] = visible.count(t);
      for (int h = 0; h < H; ++h) betas[static_cast<int64_t>(t) * H + h] = bandwidth.beta(h, counts[t]);
    }
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < static_cast<int64_t>(B) * T; ++r)
      for (int c = 0; c < C; ++c) queries[r * C + c] = betas[(r % T) * H + c / hs] * k[r * C + c];
    q = queries.data();
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const int64_t off = static_cast<int64_t>(b) * T * C + h * hs;
      const int64_t tt = (static_cast<int64_t>(b) * H + h) * T * T;
      attention_forward(out + static_cast<int64_t>(b) * T * ldo + h * hs, ldo, probs.data() + tt, q + off, k + off, v + off,
                        C, T, hs, F(1), visible,
                        {.drop = &drop, .slice = slice0 + static_cast<uint64_t>(b) * H + h, .dropped = dprobs.data() + tt});
    }
}

template <class F>
void MemoryLevel<F>::backward(const F* dout, int ldo, F* dx, const Dropout& drop, uint64_t slice0) {
  const int hs = C / H;
  dk.zero();
  dv.zero();
  if (options.bandwidth) dq.zero();
  const F* q = options.bandwidth ? queries.data() : k;
  F* dquery = options.bandwidth ? dq.data() : dk.data();  // v1: keys are the queries, both gradients in dk
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const int64_t off = static_cast<int64_t>(b) * T * C + h * hs;
      const int64_t tt = (static_cast<int64_t>(b) * H + h) * T * T;
      attention_backward(dquery + off, dk.data() + off, dv.data() + off, dprobs.data() + tt,
                         dout + static_cast<int64_t>(b) * T * ldo + h * hs, ldo, probs.data() + tt, q + off, k + off,
                         v + off, C, T, hs, F(1), visible, {.drop = &drop, .slice = slice0 + static_cast<uint64_t>(b) * H + h});
    }
  if (options.bandwidth) {  // q = beta k: dk += beta dq, dbeta = dq . k per head
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < static_cast<int64_t>(B) * T; ++r)
      for (int h = 0; h < H; ++h) {
        const F beta = betas[(r % T) * H + h];
        F sum = 0;
        for (int c = h * hs; c < (h + 1) * hs; ++c) {
          sum += dq[r * C + c] * k[r * C + c];
          dk[r * C + c] += beta * dq[r * C + c];
        }
        dbeta[r * H + h] = sum;
      }
    F* per_position = dbeta_position.data();  // summed over the batch in order: independent of threads
    for (int h = 0; h < H; ++h) {
      std::fill(per_position, per_position + T, F(0));
      for (int b = 0; b < B; ++b)
        for (int t = 0; t < T; ++t) per_position[t] += dbeta[(static_cast<int64_t>(b) * T + t) * H + h];
      bandwidth.backward(h, per_position, counts.data(), T);
    }
  }
  k_featurizer.backward(dk.data(), dx);
  v_featurizer.backward(dv.data(), dx);
}

template <class F>
void MemoryLevel<F>::Stream::reset() {
  keys.reset();
  values.reset();
  for (auto& store : stores) store.clear();
  delayed = delayed_head = 0;
  position = 0;
}

template <class F>
typename MemoryLevel<F>::Stream MemoryLevel<F>::start_stream(const StreamSettings& settings) const {
  const Visible lags = options.visible;
  MOSAIC_CHECK(lags.min_lag >= 1, "a memory that reads its own pair", "a value has seen the next token: min_lag >= 1");
  Stream s;
  s.keys = k_featurizer.start_stream(settings.max_rows);
  s.values = v_featurizer.start_stream(settings.max_rows);
  s.visible = lags;
  s.pending_key.assign(C, F(0));
  s.delayed_k.resize(static_cast<size_t>(lags.min_lag) * C);
  s.delayed_v.resize(s.delayed_k.size());
  MemoryLimit limit = settings.memory;
  RetrievalOptions retrieval = settings.retrieval;
  if (lags.max_lag != Visible::kUnbounded) {  // a window: the newest max_lag - min_lag + 1 pairs
    const int window = lags.max_lag - lags.min_lag + 1;
    if (limit.max_pairs == 0 || limit.max_pairs >= window) limit = {window, Eviction::Oldest, limit.lru_threshold};
    retrieval.backend = MemoryBackend::Exact;
  }
  for (int h = 0; h < H; ++h) s.stores.emplace_back(C / H, limit, retrieval);
  s.k.resize(static_cast<size_t>(settings.max_rows) * C);
  s.v.resize(s.k.size());
  s.pair_k.resize(s.k.size());
  s.pair_v.resize(s.k.size());
  s.pair_position.resize(settings.max_rows);
  s.pairs_through.resize(settings.max_rows);
  return s;
}

// Position t completes the pair of t - 1, which waits until it is min_lag old (pairs complete
// one per position, so the ring's oldest pair is `delayed` positions back), then t queries. The
// pairs are queued in order first, then each (stream, head) store takes its pairs and reads on
// the threads: a chunk of rows gives what one step per row gives, eviction included.
template <class F>
void MemoryLevel<F>::step(F* out, int ldo, const F* x, StreamSlices<Stream> slices) const {
  const int count = static_cast<int>(slices.size());
  Stream& lead = *slices.front().stream;  // its scratch serves every slice
  std::vector<int> first_row(count);
  std::vector<char> has_value(count);  // whether row 0 completes a pair (not a stream's first position)
  for (int i = 0, row = 0; i < count; row += slices[i++].rows) {
    first_row[i] = row;
    has_value[i] = slices[i].stream->values.has_last;
  }
  k_featurizer.step(lead.k.data(), x, slices_of(slices, [](Stream& s) -> auto& { return s.keys; }));
  v_featurizer.step(lead.v.data(), x, slices_of(slices, [](Stream& s) -> auto& { return s.values; }));
  for (int i = 0; i < count; ++i)
    queue_pairs(*slices[i].stream, lead.k.data() + static_cast<int64_t>(first_row[i]) * C,
                lead.v.data() + static_cast<int64_t>(first_row[i]) * C, slices[i].rows, has_value[i]);
  // One stream's single row goes on the threads only when its reads are long enough to pay for it.
  const int tasks = count * H;
  const bool threads = count > 1 || slices[0].rows > 1 || lead.stores[0].size() >= kParallelPairs;
  std::vector<std::exception_ptr> failed(tasks);  // an exception may not leave the parallel loop
#pragma omp parallel for schedule(dynamic) if (threads)
  for (int task = 0; task < tasks; ++task) try {
    const int i = task / H, h = task % H;
    read_head(*slices[i].stream, h, lead.k.data() + static_cast<int64_t>(first_row[i]) * C,
              out + static_cast<int64_t>(first_row[i]) * ldo, ldo, slices[i].rows);
  } catch (...) {
    failed[task] = std::current_exception();
  }
  for (const auto& e : failed)
    if (e) std::rethrow_exception(e);
  for (int i = 0; i < count; ++i) {
    Stream& s = *slices[i].stream;
    std::copy_n(lead.k.data() + static_cast<int64_t>(first_row[i] + slices[i].rows - 1) * C, C, s.pending_key.data());
    s.position += slices[i].rows;
  }
}

template <class F>
void MemoryLevel<F>::queue_pairs(Stream& s, const F* k, const F* v, int rows, bool first_has_value) const {
  const int ring = s.visible.min_lag;
  int queued = 0;
  for (int r = 0; r < rows; ++r) {
    const int64_t t = s.position + r;
    if (r > 0 || first_has_value) {  // (k_{t-1}, v_{t-1}) is complete
      const F* key = r == 0 ? s.pending_key.data() : k + static_cast<int64_t>(r - 1) * C;
      const int slot = (s.delayed_head + s.delayed++) % ring;
      std::copy_n(key, C, s.delayed_k.data() + static_cast<int64_t>(slot) * C);
      std::copy_n(v + static_cast<int64_t>(r) * C, C, s.delayed_v.data() + static_cast<int64_t>(slot) * C);
    }
    for (; s.delayed >= ring; --s.delayed, s.delayed_head = (s.delayed_head + 1) % ring, ++queued) {  // old enough
      const int64_t at = static_cast<int64_t>(s.delayed_head) * C;
      std::copy_n(s.delayed_k.data() + at, C, s.pair_k.data() + static_cast<int64_t>(queued) * C);
      std::copy_n(s.delayed_v.data() + at, C, s.pair_v.data() + static_cast<int64_t>(queued) * C);
      s.pair_position[queued] = t - s.delayed;
    }
    s.pairs_through[r] = queued;
  }
}

template <class F>
void MemoryLevel<F>::read_head(Stream& s, int h, const F* k, F* y, int ldy, int rows) const {
  const int hs = C / H;
  MemoryStore<F>& store = s.stores[h];
  const auto store_pairs = [&](int from, int to) {
    for (int p = from; p < to; ++p)
      store.add(s.pair_k.data() + static_cast<int64_t>(p) * C + h * hs, s.pair_v.data() + static_cast<int64_t>(p) * C + h * hs,
                s.pair_position[p]);
  };
  const auto beta = [&](int pairs) { return options.bandwidth ? bandwidth.beta(h, pairs) : F(1); };
  if (rows > 1 && store.reads_prefixes(s.pairs_through[rows - 1])) {
    const int before = store.size();
    store_pairs(0, s.pairs_through[rows - 1]);
    std::vector<int> counts(rows);
    std::vector<F> betas(rows);
    for (int r = 0; r < rows; ++r) {
      counts[r] = before + s.pairs_through[r];
      betas[r] = beta(counts[r]);
    }
    store.query_rows(k + h * hs, C, y + h * hs, ldy, counts.data(), betas.data(), rows, s.position);
    return;
  }
  for (int r = 0; r < rows; ++r) {
    store_pairs(r == 0 ? 0 : s.pairs_through[r - 1], s.pairs_through[r]);
    store.query(k + static_cast<int64_t>(r) * C + h * hs, y + static_cast<int64_t>(r) * ldy + h * hs, s.position + r,
                beta(store.size()));
  }
}

template <class F>
void MemoryLevel<F>::save_stream(const Stream& s, StreamState& out, const std::string& prefix) const {
  k_featurizer.save_stream(s.keys, out, prefix + "k_featurizer.");
  v_featurizer.save_stream(s.values, out, prefix + "v_featurizer.");
  out.put(prefix + "pending_key", {C}, s.pending_key.data());
  const int ring = s.visible.min_lag;
  std::vector<F> k(static_cast<size_t>(s.delayed) * C), v(k.size());
  for (int i = 0; i < s.delayed; ++i) {
    const int64_t at = static_cast<int64_t>((s.delayed_head + i) % ring) * C;
    std::copy_n(s.delayed_k.data() + at, C, k.data() + static_cast<int64_t>(i) * C);
    std::copy_n(s.delayed_v.data() + at, C, v.data() + static_cast<int64_t>(i) * C);
  }
  out.put(prefix + "delayed_keys", {s.delayed, C}, k.data());
  out.put(prefix + "delayed_values", {s.delayed, C}, v.data());
  out.put_scalar(prefix + "position", s.position);
  for (int h = 0; h < H; ++h) s.stores[h].save(out, prefix + "store." + std::to_string(h) + ".");
}

template <class F>
void MemoryLevel<F>::load_stream(Stream& s, const StreamState& in, const std::string& prefix) const {
  k_featurizer.load_stream(s.keys, in, prefix + "k_featurizer.");
  v_featurizer.load_stream(s.values, in, prefix + "v_featurizer.");
  s.pending_key = in.take<F>(prefix + "pending_key", {C});
  const auto k = in.take<F>(prefix + "delayed_keys", {-1, C});
  const int64_t delayed = in.shape(prefix + "delayed_keys")[0];
  MOSAIC_CHECK(delayed < s.visible.min_lag,
               "memory " + prefix + "delayed_keys holds " + std::to_string(delayed) + " pairs; the model's delay ring holds " +
                   std::to_string(s.visible.min_lag - 1),
               "the memory file was written for a model with another long-term delay");
  const auto v = in.take<F>(prefix + "delayed_values", {delayed, C});
  std::copy(k.begin(), k.end(), s.delayed_k.begin());
  std::copy(v.begin(), v.end(), s.delayed_v.begin());
  s.delayed = static_cast<int>(delayed);
  s.delayed_head = 0;
  s.position = in.scalar<int64_t>(prefix + "position");
  MOSAIC_CHECK(s.position >= 0, "memory " + prefix + "position is negative", "the memory file is damaged; write it again with --save-memory");
  for (int h = 0; h < H; ++h) s.stores[h].load(in, prefix + "store." + std::to_string(h) + ".");
}

template struct MemoryLevel<float>;
template struct MemoryLevel<double>;

}  // namespace mosaic
