// The flags that choose how a Memory Mosaic stream retrieves (--memory exact|approx and the
// approximate backend's K, W, threshold and HNSW parameters), shared by `mosaic sample` and the
// long-memory benchmarks. Defaults and their measurements: docs/long_memory.md.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "layers/memory_store.hpp"

namespace mosaic {

struct MemoryFlags {
  std::string backend = "exact";
  RetrievalOptions retrieval;
};

// The approximate backend's settings; with_k: --approx-k too (a benchmark may take a list instead).
inline void add_approx_flags(CLI::App* cmd, RetrievalOptions* r, bool with_k = true) {
  if (with_k) cmd->add_option("--approx-k", r->top_k, "approx: keys the index returns per query (K)");
  cmd->add_option("--approx-recent", r->recent, "approx: newest pairs always read exactly (W)");
  cmd->add_option("--approx-min-pairs", r->min_pairs, "approx: exact retrieval while a head holds fewer pairs");
  cmd->add_option("--hnsw-m", r->hnsw_m, "approx: the index's graph degree M");
  cmd->add_option("--hnsw-ef-construction", r->ef_construction, "approx: candidates kept while inserting a key");
  cmd->add_option("--hnsw-ef", r->ef_search, "approx: candidates kept while searching");
}

inline void add_memory_flags(CLI::App* cmd, MemoryFlags* f) {
  cmd->add_option("--memory", f->backend,
                  "mosaic: exact retrieval over every pair, or approx: the top --approx-k keys by an HNSW index plus "
                  "the newest --approx-recent pairs (docs/long_memory.md)");
  add_approx_flags(cmd, &f->retrieval);
}

// The options the flags name; Error with a hint for a bad backend or value.
inline RetrievalOptions memory_options(const MemoryFlags& f) {
  RetrievalOptions r = f.retrieval;
  r.backend = parse_memory_backend(f.backend);
  check_retrieval(r);
  return r;
}

}  // namespace mosaic
