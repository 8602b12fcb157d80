// The op cases: one table of named shapes per op, read by every mode that runs the op, as
// ggml's test-backend-ops keeps one case list for correctness and for performance. Readers: the
// float kernel tests (tests/test_kernels.cpp), the float64 gradient tests
// (tests/test_gradients.cpp) and the microbenchmarks (microbench/kernels.cpp, which adds tests/
// to its include path). Plain data: no gtest, no Google Benchmark, no library code.
// Shapes: B batch, T time, C channels, H heads, hs = C/H, V vocabulary, P persistent slots,
// N = B T rows; a gemm is (m x K) (K x n).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace mosaic::op_cases {

// B sequences of T tokens of C channels, H heads.
struct Shape {
  int B, T, C, H;
  constexpr int hs() const { return C / H; }
  constexpr int64_t rows() const { return static_cast<int64_t>(B) * T; }
  std::string name() const {
    char name[64];
    std::snprintf(name, sizeof name, "B%d_T%d_C%d_H%d", B, T, C, H);
    return name;
  }
};

// ---- the sequence ops at model size: attention, leaky average, normalise-and-scale,
// layernorm, cross-entropy, the vocabulary products, the persistent memory ----

// The training configurations `mosaic bench train` measures (configs/bench_d128.json and
// bench_d256.json; N = 2048 rows in both). The microbenchmarks time every op at each, named by
// its width (d:128, d:256).
struct ModelCase {
  const char* name;
  Shape shape;
  int V, P;
};
inline constexpr ModelCase kModelCases[] = {
    {"d128", {8, 256, 128, 4}, 50304, 448},
    {"d256", {4, 512, 256, 8}, 50304, 896},
};

// The model case of width C (the microbenchmarks' d argument).
inline const ModelCase& model_case(int C) {
  for (const ModelCase& m : kModelCases)
    if (m.shape.C == C) return m;
  throw std::invalid_argument("no op case of width " + std::to_string(C));
}

// ---- every layer and both models, in float64 against finite differences ----

// Small shapes where finite differences are affordable, each here for a reason: every layer's
// gradient check and both models' run at each (test_gradients.cpp). Probes: entries checked per
// tensor, fewer where a pass costs more. The persistent memory works in row blocks of 64 and 8
// row groups (persistent_memory.cpp); attention in query tiles of kAttentionTile = 64 rows.
struct GradCase {
  Shape shape;
  size_t layer_probes, model_probes;
};
inline constexpr GradCase kGradCases[] = {
    {{1, 1, 8, 2}, 40, 12},   // one token: the contextual memory's only position sees no key
    {{1, 2, 12, 4}, 40, 12},  // two tokens: the second sees one key; hs 3
    {{2, 6, 8, 2}, 40, 12},   // the tests' former only shape
    {{3, 5, 20, 4}, 40, 12},  // C not a multiple of 16, hs 5
    {{2, 9, 32, 8}, 40, 8},   // C a multiple of 16, H 8
    {{1, 67, 12, 1}, 24, 6},  // H 1; a second attention tile of 3 rows; 67 rows: blocks 64 + 3
    {{2, 70, 15, 5}, 24, 6},  // odd C, hs 3; tiles 64 + 6; 140 rows: blocks 64 + 64 + 12
    {{9, 65, 12, 3}, 12, 4},  // 585 rows: 10 blocks (the last of 9 rows), more than the 8 groups
};
inline constexpr size_t kGradCaseCount = sizeof kGradCases / sizeof kGradCases[0];
inline constexpr const GradCase& kBaseGradCase = kGradCases[2];  // the single-case checks' shape

// ---- attention: tiled against untiled (test_gradients.cpp) ----

// One (batch, head) slice with a row stride wider than hs and T not a multiple of the tile.
struct AttentionTileCase {
  int T, hs, ld, tile;
};
inline constexpr AttentionTileCase kAttentionTileCase = {7, 3, 5, 2};

// ---- gemm: our small_gemm against OpenBLAS's sgemm (test_kernels.cpp) ----

struct GemmCase {
  int m, n, K;
};
// Whole 6 x 16 (6 x 32) tiles, row and column remainders, depth 1, a depth past 32.
inline constexpr GemmCase kSmallGemmCases[] = {{6, 16, 8}, {7, 17, 5}, {1, 1, 1}, {13, 40, 1}, {5, 3, 33}};

// ---- the persistent memory's thin products (test_kernels.cpp checks them, the
// microbenchmarks time them): one task is a block of 64 rows and one head ----

inline constexpr int kPmemBlockRows = 64;
// Scores of a block over the P slots: (64 x hs) (hs x P).
inline GemmCase pmem_scores(const ModelCase& m) { return {kPmemBlockRows, m.P, m.shape.hs()}; }
// Read-out of the slots' values: (64 x P) (P x hs).
inline GemmCase pmem_readout(const ModelCase& m) { return {kPmemBlockRows, m.shape.hs(), m.P}; }

// ---- the tied LM head: its fused float kernel against the float64 head (test_kernels.cpp) ----

struct HeadCase {
  int N, V, C;
  int64_t chunk;  // rows per chunk, 0: the head's own (all rows here)
  bool far_max;   // row 0's largest logit far above every logit that sets its shift
};
// Vocabularies of whole 16- and 32-word groups and not (a partial last group), fewer groups
// than the 8 slabs and more, fewer words than the 32 shift words; widths that are multiples of
// 32 and not (the AVX-512 dx tile falls back to 16 columns); rows in whole 6-row tiles and not,
// one row; one chunk and several, the last partial.
inline constexpr HeadCase kHeadCases[] = {
    {12, 320, 32, 0, false}, {12, 320, 32, 0, true},   {13, 37, 16, 0, false}, {13, 37, 16, 0, true},
    {17, 301, 48, 5, false}, {17, 301, 48, 5, true},   {30, 1000, 64, 7, false}, {30, 1000, 64, 7, true},
    {1, 5, 16, 0, false},    {23, 17, 32, 4, false},   {40, 129, 16, 12, false},
};

// At model size (timed): the rows of one chunk of the head (layers/tied_lm_head.cpp at
// V = 50304: 16M logits, down to a multiple of 32), and all N rows at once.
inline constexpr int kHeadChunkRows = 320;
inline constexpr int kVocabRows[] = {kHeadChunkRows, 2048};
static_assert(kModelCases[0].shape.rows() == 2048 && kModelCases[1].shape.rows() == 2048,
              "kVocabRows' all-rows case and the microbenchmarks' cross-entropy read N = 2048 for every model case");

}  // namespace mosaic::op_cases
