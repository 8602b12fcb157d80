// Dropout (nanoGPT's nn.Dropout: zero with probability p, scale the rest by 1/(1-p)) with
// masks drawn from a counter-based hash instead of a stateful generator: the element (row, col)
// of a site is kept when hash(pass key, site, row, col) >= p * 2^32. So the backward pass
// recomputes the forward's mask instead of storing it, the mask does not depend on the thread
// count, and a resumed run draws the masks it would have drawn (the trainer derives each
// micro-step's pass key from its seed and step). Only training passes drop; evaluation,
// sampling and streaming never do.
// Sites: embeddings, the residual branches' outputs (c_proj), attention and memory probabilities.
#pragma once
#include <cstdint>

#include "core/rng.hpp"

namespace mosaic {

struct Dropout {
  double p = 0;        // from the model config; 0 = off
  uint64_t site = 0;   // distinct per place in the model
  uint64_t pass_key = 0;
  bool training = false;

  Dropout() = default;
  Dropout(double prob, uint64_t site_id) : p(prob), site(site_id) {}

  bool active() const { return training && p > 0; }
  // Turns the site on for one training pass with this key, or off (training = false).
  void set_pass(uint64_t key, bool train) {
    pass_key = key;
    training = train;
  }

  // The key of one row of a slice (a (sequence, head) pair or 0): 64-bit mixing, once per row.
  uint64_t row_key(uint64_t slice, uint64_t row) const {
    return mosaic::mix64(mosaic::mix64(pass_key ^ mosaic::mix64(site)) + slice * 0x9E3779B97F4A7C15ull + row);
  }
  // 1/(1-p) where (row key, col) is kept, else 0: a 32-bit finaliser per element.
  template <class F>
  F factor(uint64_t key, uint32_t col) const {
    return fmix32(static_cast<uint32_t>(key) ^ (col * 0x9E3779B9u) ^ static_cast<uint32_t>(key >> 32)) >= threshold()
               ? static_cast<F>(1.0 / (1.0 - p))
               : F(0);
  }
  uint32_t threshold() const { return static_cast<uint32_t>(p * 4294967296.0 >= 4294967295.0 ? 4294967295.0 : p * 4294967296.0); }

  // dst[r][c] = src[r][c] * mask for rows [row0, row0 + rows) of a slice, cols [0, cols);
  // dst may equal src. Row strides lds, ldd.
  template <class F>
  void apply(F* dst, int64_t ldd, const F* src, int64_t lds, int64_t rows, int cols, uint64_t slice, int64_t row0) const {
    for (int64_t r = 0; r < rows; ++r) {
      const uint64_t key = row_key(slice, static_cast<uint64_t>(row0 + r));
      F* d = dst + r * ldd;
      const F* s = src + r * lds;
      for (int c = 0; c < cols; ++c) d[c] = s[c] * factor<F>(key, static_cast<uint32_t>(c));
    }
  }

  static uint32_t fmix32(uint32_t h) {  // murmur3's finaliser
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16);
  }
};

}  // namespace mosaic
