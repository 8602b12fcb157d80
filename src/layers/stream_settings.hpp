// What a stream is opened with, read by every layer's start_stream (each takes what it needs):
// rows per step (the size of its scratch), the contextual memory's bound, eviction and retrieval
// (exact or approximate), the self-attention's KV cache length and how much of it survives a
// slide. Not a stream itself.
#pragma once
#include "layers/memory_store.hpp"

namespace mosaic {

// Rows per step: a prompt goes through in chunks of this many rows (bounds the streams'
// scratch, keeps the projections matrix products).
constexpr int kStreamChunk = 64;

struct StreamSettings {
  int max_rows = kStreamChunk;  // rows per step
  MemoryLimit memory;           // Memory Mosaic: pairs kept per contextual-memory head, eviction
  RetrievalOptions retrieval;          // Memory Mosaic: exact, or approximate for the unbounded levels
  int window = 0;               // self-attention: positions its KV cache holds (the decoder sets block_size)
  int keep = 0;                 // self-attention: positions kept when the full window slides (0: window / 2)
};

}  // namespace mosaic
