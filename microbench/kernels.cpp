// Google Benchmark microbenchmarks of the kernels at the shapes of `mosaic bench train`'s
// configurations (src/bench/throughput.hpp), read from the op cases the kernel and gradient
// tests read too (tests/op_cases.hpp): d128 (B=8, T=256, C=128, 4 heads of 32, pmem 448) and
// d256 (B=4, T=512, C=256, 8 heads of 32, pmem 896), vocabulary 50304; N = B*T = 2048 rows in
// both. Arguments show in the names: d:<width>, rows:<gemm rows>, threads:<OpenMP and OpenBLAS
// threads>, n:<row length>, grad:<0|1>. Benchmarks without threads time serial loops.
// Times are wall-clock (UseRealTime): the CPU time of the main thread would miss the other threads.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <type_traits>
#include <vector>

#include "core/buffer.hpp"
#include "core/rng.hpp"
#include "kernels/matvec.hpp"
#include "kernels/attention.hpp"
#include "kernels/gemm.hpp"
#include "kernels/layernorm.hpp"
#include "kernels/memory_features.hpp"
#include "kernels/small_gemm.hpp"
#include "kernels/softmax.hpp"
#include "kernels/threads.hpp"
#include "kernels/vector_math.hpp"
#include "kernels/vocab_panels.hpp"
#include "kernels/vocab_softmax.hpp"
#include "op_cases.hpp"

namespace {

using mosaic::Buffer;
using mosaic::Op;
namespace op_cases = mosaic::op_cases;

struct Shape {
  int B, T, C, H, hs, V;
  int64_t N() const { return static_cast<int64_t>(B) * T; }
};

constexpr int kVocab = op_cases::kModelCases[0].V;
constexpr int64_t kRows = op_cases::kModelCases[0].shape.rows();  // N = B*T of every model case

// d: the width of a model case, the only values the registrations below pass (else the last
// case). One branch per case, each returning constants: the buffers' sizes stay known to the
// compiler, which otherwise warns that Buffer's memset could exceed any object.
template <size_t I = 0>
Shape shape_of(int64_t d) {
  constexpr const op_cases::ModelCase& m = op_cases::kModelCases[I];
  constexpr Shape s{m.shape.B, m.shape.T, m.shape.C, m.shape.H, m.shape.hs(), m.V};
  if constexpr (I + 1 == std::size(op_cases::kModelCases)) return s;
  else return d == s.C ? s : shape_of<I + 1>(d);
}

// The widths of the model cases: the d argument.
std::vector<int64_t> widths() {
  std::vector<int64_t> d;
  for (const auto& m : op_cases::kModelCases) d.push_back(m.shape.C);
  return d;
}

// Uniform in [lo, hi), the same values on every run.
Buffer<float> random_buffer(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  Buffer<float> buf(static_cast<size_t>(n));
  mosaic::Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) buf[i] = lo + static_cast<float>(rng.uniform()) * (hi - lo);
  return buf;
}

// For the header-only kernels: lets their outputs escape, so the compiler cannot drop their
// stores as never read. (Pointers handed to OpenBLAS escape anyway: ClobberMemory suffices.)
template <class... T>
void keep(T*... outputs) {
  (benchmark::DoNotOptimize(outputs), ...);
  benchmark::ClobberMemory();
}

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["FLOP/s"] = benchmark::Counter(flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

void set_bytes(benchmark::State& state, int64_t bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * bytes_per_iteration);
}

void set_items(benchmark::State& state, int64_t items_per_iteration) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * items_per_iteration);
}

// Args {d, threads} over the model cases and 1 or 2 threads (the machine has 2 cores).
void model_threads(benchmark::internal::Benchmark* b) {
  for (int64_t d : widths())
    for (int64_t t : {1, 2}) b->Args({d, t});
  b->ArgNames({"d", "threads"})->UseRealTime();
}

void model_only(benchmark::internal::Benchmark* b) {
  for (int64_t d : widths()) b->Arg(d);
  b->ArgName("d")->UseRealTime();
}

// Args {d, rows, threads} for the vocabulary gemms: all N = 2048 rows at once, or 320 rows, the
// chunk layers/tied_lm_head.cpp works in at V = 50304 (16M logits, down to a multiple of 32).
void vocab_args(benchmark::internal::Benchmark* b) {
  for (int64_t d : widths())
    for (int64_t rows : op_cases::kVocabRows)
      for (int64_t t : {1, 2}) b->Args({d, rows, t});
  b->ArgNames({"d", "rows", "threads"})->UseRealTime();
}

void threads_only(benchmark::internal::Benchmark* b) {
  b->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
}

// ---- sgemm: the vocabulary projection and its gradients, and a square reference ----

// C (m x n) = A B with A, B stored as `gemm` reads them for op_a, op_b; beta 1 where the layer
// accumulates over row chunks (dW), 0 elsewhere.
void run_gemm(benchmark::State& state, int threads, Op op_a, Op op_b, int m, int n, int k, float beta) {
  mosaic::set_threads(threads);
  const int lda = op_a == Op::N ? k : m, ldb = op_b == Op::N ? n : k;
  auto a = random_buffer(static_cast<int64_t>(m) * k, 1);
  auto b = random_buffer(static_cast<int64_t>(k) * n, 2);
  Buffer<float> c(static_cast<size_t>(m) * n);
  for (auto _ : state) {
    mosaic::gemm<float>(op_a, op_b, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, beta, c.data(), n);
    benchmark::ClobberMemory();
  }
  set_flops(state, 2.0 * m * n * k);
}

// logits (rows x V) = x (rows x C) W^T, W (V x C)
void BM_VocabLogits(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const int rows = static_cast<int>(state.range(1));
  run_gemm(state, static_cast<int>(state.range(2)), Op::N, Op::T, rows, s.V, s.C, 0.0f);
}
BENCHMARK(BM_VocabLogits)->Apply(vocab_args)->Unit(benchmark::kMillisecond);

// dW (V x C) += dlogits^T (V x rows) x (rows x C)
void BM_VocabGradW(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const int rows = static_cast<int>(state.range(1));
  run_gemm(state, static_cast<int>(state.range(2)), Op::T, Op::N, s.V, s.C, rows, 1.0f);
}
BENCHMARK(BM_VocabGradW)->Apply(vocab_args)->Unit(benchmark::kMillisecond);

// dx (rows x C) = dlogits (rows x V) W (V x C)
void BM_VocabGradX(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const int rows = static_cast<int>(state.range(1));
  run_gemm(state, static_cast<int>(state.range(2)), Op::N, Op::N, rows, s.C, s.V, 0.0f);
}
BENCHMARK(BM_VocabGradX)->Apply(vocab_args)->Unit(benchmark::kMillisecond);

// The fused head kernel on one chunk of 320 rows, as layers/tied_lm_head.cpp runs it: 8 slabs of
// the vocabulary in a parallel loop, exponentials of the logits stored, row sums, and with
// grad:1 the E W product for d x. FLOPs count the logits (and E W) products only.
void BM_VocabSoftmaxFused(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const bool grad = state.range(1) != 0;
  const int rows = op_cases::kHeadChunkRows, slabs = 8;
  mosaic::set_threads(static_cast<int>(state.range(2)));
  auto x = random_buffer(static_cast<int64_t>(rows) * s.C, 1);
  auto W = random_buffer(static_cast<int64_t>(s.V) * s.C, 2, -0.05f, 0.05f);
  const int64_t groups = mosaic::vocab_groups(s.V);
  Buffer<float> panels(static_cast<size_t>(groups) * s.C * mosaic::vocab_group_words()), E(static_cast<size_t>(rows) * s.V),
      sums(static_cast<size_t>(slabs) * rows), dx(static_cast<size_t>(slabs) * rows * s.C), shift(rows);
  mosaic::pack_vocab_panels(panels.data(), W.data(), s.V, s.C);
  for (int i = 0; i < rows; ++i) shift[i] = 1.0f;
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (int sl = 0; sl < slabs; ++sl)
      mosaic::exp_logits_slab(E.data(), sums.data() + sl * rows, grad ? dx.data() + sl * rows * s.C : nullptr,
                              x.data(), rows, s.C, panels.data(), W.data(), s.V, groups * sl / slabs,
                              groups * (sl + 1) / slabs, shift.data());
    keep(E.data(), sums.data(), dx.data());
  }
  set_flops(state, 2.0 * rows * s.V * s.C * (grad ? 2 : 1));
}
BENCHMARK(BM_VocabSoftmaxFused)
    ->ArgsProduct({widths(), {0, 1}, {1, 2}})
    ->ArgNames({"d", "grad", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The head's d wte as layers/tied_lm_head.cpp makes it on AVX-512: dW (V x C) += E^T (V x 320) x,
// 8 slabs in a parallel loop, our kernel (x transposed) against BM_VocabGradW's gemm.
void BM_VocabGradWFused(benchmark::State& state) {
  if (mosaic::best_simd_target() != mosaic::SimdTarget::avx512) {
    state.SkipWithError("needs AVX-512");
    return;
  }
  const Shape s = shape_of(state.range(0));
  const int rows = op_cases::kHeadChunkRows, slabs = 8;
  mosaic::set_threads(static_cast<int>(state.range(1)));
  auto xt = random_buffer(static_cast<int64_t>(rows) * s.C, 1), E = random_buffer(static_cast<int64_t>(rows) * s.V, 2);
  Buffer<float> dW(static_cast<size_t>(s.V) * s.C);
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (int sl = 0; sl < slabs; ++sl) {
      const int64_t v0 = int64_t(s.V) * sl / slabs, v1 = int64_t(s.V) * (sl + 1) / slabs;
      mosaic::accumulate_dwte_avx512(dW.data() + v0 * s.C, s.C, xt.data(), E.data() + v0, s.V, rows, static_cast<int>(v1 - v0),
                              true);
    }
    keep(dW.data());
  }
  set_flops(state, 2.0 * rows * s.V * s.C);
}
BENCHMARK(BM_VocabGradWFused)->ArgsProduct({widths(), {1, 2}})->ArgNames({"d", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);

// 1024^3: a shape OpenBLAS runs near its peak, the ceiling to read the others against.
void BM_GemmSquare1024(benchmark::State& state) {
  run_gemm(state, static_cast<int>(state.range(0)), Op::N, Op::N, 1024, 1024, 1024, 0.0f);
}
BENCHMARK(BM_GemmSquare1024)->Apply(threads_only)->Unit(benchmark::kMillisecond);

// ---- layer norm over (N, C) ----

void BM_LayerNormForward(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  mosaic::set_threads(static_cast<int>(state.range(1)));
  const int64_t N = s.N(), nc = N * s.C;
  auto x = random_buffer(nc, 1), w = random_buffer(s.C, 2, 0.5f, 1.5f), b = random_buffer(s.C, 3);
  Buffer<float> out(nc), mean(N), rstd(N);
  for (auto _ : state) {
    mosaic::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, s.C, 1e-5);
    keep(out.data(), mean.data(), rstd.data());
  }
  set_items(state, N);
  set_bytes(state, 2 * nc * 4);  // x read, out written
}
BENCHMARK(BM_LayerNormForward)->Apply(model_threads)->Unit(benchmark::kMicrosecond);

void BM_LayerNormBackward(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  mosaic::set_threads(static_cast<int>(state.range(1)));
  const int64_t N = s.N(), nc = N * s.C;
  auto x = random_buffer(nc, 1), w = random_buffer(s.C, 2, 0.5f, 1.5f), b = random_buffer(s.C, 3);
  auto dout = random_buffer(nc, 4);
  Buffer<float> out(nc), mean(N), rstd(N), dx(nc), dw(s.C), db(s.C);
  mosaic::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, s.C, 1e-5);
  for (auto _ : state) {  // accumulates into dx, dw, db: they grow linearly, harmlessly
    mosaic::layernorm_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), mean.data(),
                               rstd.data(), N, s.C);
    keep(dx.data(), dw.data(), db.data());
  }
  set_items(state, N);
  set_bytes(state, 4 * nc * 4);  // x, dout read; dx read and written
}
BENCHMARK(BM_LayerNormBackward)->Apply(model_threads)->Unit(benchmark::kMicrosecond);

// ---- cross-entropy over (N, V) logits: 412 MB, streamed from memory ----

// cross_entropy_rows in place, loss only (grad:0) or loss and gradient (grad:1). From the
// second pass on it works on its own output, at the same cost: the exponential is branch-free.
void BM_CrossEntropyRows(benchmark::State& state) {
  const bool grad = state.range(0) != 0;
  mosaic::set_threads(static_cast<int>(state.range(1)));
  const int64_t N = kRows;
  auto logits = random_buffer(N * kVocab, 1, -8.0f, 8.0f);
  Buffer<int32_t> targets(N);
  mosaic::Rng rng(5);
  for (int64_t i = 0; i < N; ++i) targets[i] = static_cast<int32_t>(rng.below(kVocab));
  Buffer<float> loss(N);
  for (auto _ : state) {
    mosaic::cross_entropy_rows(logits.data(), loss.data(), targets.data(), N, kVocab, grad ? 1.0f / N : 0.0f);
    keep(logits.data(), loss.data());
  }
  set_items(state, N);
  set_bytes(state, 2 * N * kVocab * 4);  // logits read, then written (exp, or the gradient)
}
BENCHMARK(BM_CrossEntropyRows)
    ->ArgsProduct({{0, 1}, {1, 2}})
    ->ArgNames({"grad", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---- softmax and attention ----

// One row of n in L1: attention rows (T = 256, 512) and persistent-memory rows (P = 448, 896).
// In place: from the second pass on it normalises probabilities, at the same (branch-free) cost.
void BM_SoftmaxPrefix(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto row = random_buffer(n, 1, -4.0f, 4.0f);
  for (auto _ : state) {
    mosaic::softmax_prefix(row.data(), n, n);
    keep(row.data());
  }
  set_items(state, n);
}
// n: each model case's attention row (T) and persistent-memory row (P).
void softmax_rows(benchmark::internal::Benchmark* b) {
  for (const auto& m : op_cases::kModelCases) b->Arg(m.shape.T)->Arg(m.P);
  b->ArgName("n");
}
BENCHMARK(BM_SoftmaxPrefix)->Apply(softmax_rows);

// The contextual memory's attention (keys as queries, diagonal excluded, row stride C), over
// all (batch, head) slices in parallel as layers/contextual_memory.cpp runs it; the gemms
// inside a parallel region run on one thread. The FLOPs count the full T x T products that
// the gemms compute, masked half included.
struct Attention {
  Shape s;
  Buffer<float> k, v, y, dk, dv;  // (N, C)
  Buffer<float> probs, scratch;    // T x T per slice
  explicit Attention(const Shape& shape)
      : s(shape), k(random_buffer(s.N() * s.C, 1)), v(random_buffer(s.N() * s.C, 2)), y(k.size()), dk(k.size()),
        dv(k.size()), probs(static_cast<size_t>(s.B) * s.H * s.T * s.T), scratch(probs.size()) {}
  int64_t offset(int b, int h) const { return static_cast<int64_t>(b) * s.T * s.C + h * s.hs; }  // in (N, C)
  int64_t slice(int b, int h) const { return (static_cast<int64_t>(b) * s.H + h) * s.T * s.T; }  // in probs
  double gemm_flops() const { return 2.0 * s.B * s.H * s.T * s.T * s.hs; }  // one T x T x hs product per slice

  void forward() {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < s.B; ++b)
      for (int h = 0; h < s.H; ++h) {
        const int64_t off = offset(b, h);
        mosaic::attention_forward(y.data() + off, s.C, probs.data() + slice(b, h), k.data() + off, k.data() + off,
                                  v.data() + off, s.C, s.T, s.hs, 1.0f, mosaic::Visible::BeforeSelf);
      }
  }
  // Accumulates into dk (the keys' gradient as keys and as queries) and dv.
  void backward(const float* dy) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < s.B; ++b)
      for (int h = 0; h < s.H; ++h) {
        const int64_t off = offset(b, h), tt = slice(b, h);
        mosaic::attention_backward(dk.data() + off, dk.data() + off, dv.data() + off, scratch.data() + tt, dy + off,
                                   s.C, probs.data() + tt, k.data() + off, k.data() + off, v.data() + off, s.C, s.T,
                                   s.hs, 1.0f, mosaic::Visible::BeforeSelf);
      }
  }
};

void BM_AttentionForward(benchmark::State& state) {
  mosaic::set_threads(static_cast<int>(state.range(1)));
  Attention att(shape_of(state.range(0)));
  for (auto _ : state) {
    att.forward();
    benchmark::ClobberMemory();
  }
  set_flops(state, 2 * att.gemm_flops());
}
BENCHMARK(BM_AttentionForward)->Apply(model_threads)->Unit(benchmark::kMillisecond);

void BM_AttentionBackward(benchmark::State& state) {
  mosaic::set_threads(static_cast<int>(state.range(1)));
  Attention att(shape_of(state.range(0)));
  auto dy = random_buffer(static_cast<int64_t>(att.y.size()), 3);
  att.forward();  // the probabilities the backward pass reads
  for (auto _ : state) {
    att.backward(dy.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, 4 * att.gemm_flops());
}
BENCHMARK(BM_AttentionBackward)->Apply(model_threads)->Unit(benchmark::kMillisecond);

// ---- memory-feature extractors over B sequences of (T, C), serial as each kernel is ----

void BM_LeakyAverageForward(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const int64_t seq = static_cast<int64_t>(s.T) * s.C;
  auto x = random_buffer(s.N() * s.C, 1), decay = random_buffer(s.H, 2, 0.5f, 0.99f);
  Buffer<float> y(static_cast<size_t>(s.N() * s.C));
  for (auto _ : state) {
    for (int b = 0; b < s.B; ++b)
      mosaic::leaky_average_forward(y.data() + b * seq, x.data() + b * seq, decay.data(), s.T, s.C, s.hs);
    keep(y.data());
  }
  set_items(state, s.N());
  set_bytes(state, 2 * s.N() * s.C * 4);  // x read, y written
}
BENCHMARK(BM_LeakyAverageForward)->Apply(model_only)->Unit(benchmark::kMicrosecond);

void BM_LeakyAverageBackward(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const int64_t seq = static_cast<int64_t>(s.T) * s.C, nc = s.N() * s.C;
  auto y = random_buffer(nc, 1), dy = random_buffer(nc, 3), decay = random_buffer(s.H, 2, 0.5f, 0.99f);
  Buffer<float> dx(nc), g(nc), ddecay(static_cast<size_t>(s.B) * s.H);
  for (auto _ : state) {
    for (int b = 0; b < s.B; ++b)
      mosaic::leaky_average_backward(dx.data() + b * seq, ddecay.data() + b * s.H, g.data() + b * seq,
                                     dy.data() + b * seq, y.data() + b * seq, decay.data(), s.T, s.C, s.hs);
    keep(dx.data(), ddecay.data(), g.data());
  }
  set_items(state, s.N());
  set_bytes(state, 6 * nc * 4);  // dy, y read; g written then read; dx read and written
}
BENCHMARK(BM_LeakyAverageBackward)->Apply(model_only)->Unit(benchmark::kMicrosecond);

void BM_NormalizeScaleForward(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const int64_t seq = static_cast<int64_t>(s.T) * s.C, nc = s.N() * s.C;
  auto x = random_buffer(nc, 1), scale = random_buffer(s.H, 2, 1.0f, 10.0f);
  Buffer<float> y(nc), norm(static_cast<size_t>(s.N()) * s.H);
  for (auto _ : state) {
    for (int b = 0; b < s.B; ++b)
      mosaic::normalize_scale_forward(y.data() + b * seq, norm.data() + static_cast<int64_t>(b) * s.T * s.H,
                                      x.data() + b * seq, scale.data(), s.T, s.C, s.hs);
    keep(y.data(), norm.data());
  }
  set_items(state, s.N());
  set_bytes(state, 2 * nc * 4);  // x read, y written
}
BENCHMARK(BM_NormalizeScaleForward)->Apply(model_only)->Unit(benchmark::kMicrosecond);

void BM_NormalizeScaleBackward(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const int64_t seq = static_cast<int64_t>(s.T) * s.C, nc = s.N() * s.C;
  auto x = random_buffer(nc, 1), scale = random_buffer(s.H, 2, 1.0f, 10.0f), dy = random_buffer(nc, 3);
  Buffer<float> y(nc), norm(static_cast<size_t>(s.N()) * s.H), dx(nc), dlogscale(static_cast<size_t>(s.B) * s.H);
  for (int b = 0; b < s.B; ++b)
    mosaic::normalize_scale_forward(y.data() + b * seq, norm.data() + static_cast<int64_t>(b) * s.T * s.H,
                                    x.data() + b * seq, scale.data(), s.T, s.C, s.hs);
  for (auto _ : state) {
    for (int b = 0; b < s.B; ++b)
      mosaic::normalize_scale_backward(dx.data() + b * seq, dlogscale.data() + b * s.H, dy.data() + b * seq,
                                       y.data() + b * seq, x.data() + b * seq,
                                       norm.data() + static_cast<int64_t>(b) * s.T * s.H, scale.data(), s.T, s.C,
                                       s.hs);
    keep(dx.data(), dlogscale.data());
  }
  set_items(state, s.N());
  set_bytes(state, 5 * nc * 4);  // dy, y, x read; dx read and written
}
BENCHMARK(BM_NormalizeScaleBackward)->Apply(model_only)->Unit(benchmark::kMicrosecond);

// ---- generation-time kernels ----

// One vocabulary row of logits, as cross-entropy and sampling see it (in and out: 400 KB, in L2).
void BM_ExpShifted(benchmark::State& state) {
  auto x = random_buffer(kVocab, 1, -8.0f, 8.0f);
  Buffer<float> out(kVocab);
  for (auto _ : state) {
    mosaic::exp_shifted(out.data(), x.data(), kVocab, 8.0f);
    keep(out.data());
  }
  set_items(state, kVocab);
  set_bytes(state, 2 * kVocab * 4);  // x read, out written
}
BENCHMARK(BM_ExpShifted);

// logits = W h for one token: W (V x C) is 25 MB at d128 (the L3 is 32 MB, shared), 51 MB at d256.
// threads: matvec's own argument (the team of its parallel loop), not set_threads.
void BM_VocabMatvec(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  auto w = random_buffer(static_cast<int64_t>(s.V) * s.C, 1), x = random_buffer(s.C, 2);
  Buffer<float> y(s.V);
  for (auto _ : state) {
    mosaic::matvec(y.data(), w.data(), x.data(), nullptr, s.V, s.C, threads);
    keep(y.data());
  }
  set_items(state, s.V);
  set_bytes(state, static_cast<int64_t>(s.V) * s.C * 4);  // W read; x and y are negligible
}
BENCHMARK(BM_VocabMatvec)->Apply(model_threads)->Unit(benchmark::kMicrosecond);

// The vocabulary head's kernel (kernels/vocab_panels.hpp) on W packed in panels, fp32 and the
// bfloat16 copy of `--head bf16` (half the bytes), for m streams at once (`sample --num-samples`,
// `bench generate --batch`, a server's step): W read once for all m. Items: logits made (m x V).
template <class Weight>
void vocab_panels(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const int threads = static_cast<int>(state.range(1)), m = static_cast<int>(state.range(2));
  auto w = random_buffer(static_cast<int64_t>(s.V) * s.C, 1), x = random_buffer(static_cast<int64_t>(m) * s.C, 2);
  const auto panels = mosaic::pack_panels<Weight>(w.data(), s.V, s.C, [](float f) {
    if constexpr (std::is_same_v<Weight, float>) {
      return f;
    } else {
      uint32_t u;
      std::memcpy(&u, &f, sizeof u);
      return static_cast<uint16_t>(u >> 16);
    }
  });
  const int count = mosaic::panel_count(s.V);
  Buffer<float> y(static_cast<int64_t>(m) * count * mosaic::kPanelRows);
  for (auto _ : state) {
    mosaic::panel_matmat(y.data(), count * mosaic::kPanelRows, panels.data(), 0, count, x.data(), s.C, m, s.C, threads);
    keep(y.data());
  }
  set_items(state, static_cast<int64_t>(m) * s.V);
  set_bytes(state, static_cast<int64_t>(s.V) * s.C * static_cast<int64_t>(sizeof(Weight)));
}
void BM_VocabPanels(benchmark::State& state) { vocab_panels<float>(state); }
void BM_VocabPanelsBf16(benchmark::State& state) { vocab_panels<uint16_t>(state); }
BENCHMARK(BM_VocabPanels)->ArgsProduct({{op_cases::kModelCases[0].shape.C}, {1, 2}, {1, 8}})->ArgNames({"d", "threads", "m"})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_VocabPanelsBf16)->ArgsProduct({{op_cases::kModelCases[0].shape.C}, {1, 2}, {1, 8}})->ArgNames({"d", "threads", "m"})->Unit(benchmark::kMicrosecond);

// The persistent memory's thin products for one (64-row block, head) task, single-threaded, as
// test_kernels.cpp checks them: scores (64 x P, depth hs) and read-out (64 x hs, depth P), ours
// (small_gemm) against sgemm. Args: d (P = 448 at d128, 896 at d256; hs 32), ours (1) or
// OpenBLAS (0).
void BM_PmemBlockProducts(benchmark::State& state) {
  const op_cases::ModelCase& m = op_cases::model_case(static_cast<int>(state.range(0)));
  const op_cases::GemmCase scores = op_cases::pmem_scores(m);
  const int P = scores.n, hs = scores.K, rows = scores.m;
  const bool ours = state.range(1) != 0;
  mosaic::set_threads(1);
  auto k = random_buffer(rows * hs, 1), pk = random_buffer(static_cast<int64_t>(P) * hs, 2),
       pv = random_buffer(static_cast<int64_t>(P) * hs, 3);
  Buffer<float> pk_t(pk.size()), a(static_cast<size_t>(rows) * P), z(static_cast<size_t>(rows) * hs);
  mosaic::pack_transposed(pk_t.data(), pk.data(), P, hs, hs);
  for (auto _ : state) {
    if (ours) {
      mosaic::small_gemm<float>(rows, P, hs, 1.0f, k.data(), hs, pk_t.data(), P, false, a.data(), P);
      mosaic::small_gemm<float>(rows, hs, P, 1.0f, a.data(), P, pv.data(), hs, false, z.data(), hs);
    } else {
      mosaic::gemm<float>(Op::N, Op::T, rows, P, hs, 1.0f, k.data(), hs, pk.data(), hs, 0.0f, a.data(), P);
      mosaic::gemm<float>(Op::N, Op::N, rows, hs, P, 1.0f, a.data(), P, pv.data(), hs, 0.0f, z.data(), hs);
    }
    keep(a.data(), z.data());
  }
  set_flops(state, 2.0 * 2.0 * rows * P * hs);
}
BENCHMARK(BM_PmemBlockProducts)->ArgsProduct({widths(), {0, 1}})->ArgNames({"d", "ours"})->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
