// The tied output projection of a stream, once per generated token: logits = wte x over the
// whole vocabulary. It reads all of wte (25.7 MB at d=128) for a handful of flops per byte,
// so memory, not arithmetic, sets its speed for one stream; many streams' rows share one read.
// wte is read from a copy in panels of 16 rows (kernels/vocab_panels.hpp), shared by every head
// over the same weights: each logit is an FMA chain over the features in order, the same bits
// for one row or many, on any thread count and SIMD width.
// fp32: the exact product. bf16: products with a bfloat16 copy (half the bytes), then every
// logit that may lie within the error bound of the largest is recomputed in fp32 (the same FMA
// chain), so those logits, the argmax and with it greedy decoding are exactly fp32's; the others
// are within the bound of their fp32 values. Shapes: wte (V, C); x (C); X (m, C); logits (m, V).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mosaic {

enum class HeadPrecision { Fp32, Bf16 };
HeadPrecision parse_head_precision(const std::string& name);  // "fp32" | "bf16", else Error
std::string head_precision_name(HeadPrecision p);

class VocabHead {
 public:
  VocabHead() = default;
  // wte must outlive the head, and not change while a head over it lives. threads: for the
  // projection's panels; 0: OpenMP's count at each projection, adapting (kernels/threads.hpp).
  VocabHead(const float* wte, int V, int C, HeadPrecision precision, int threads);
  void project(const float* x, float* logits) { project_rows(x, 1, logits); }
  // m rows at once (a batch of streams, a server's step): each row's logits the same bits as
  // project's, whatever m and the other rows.
  void project_rows(const float* X, int m, float* logits);
  // bf16: the bound on |logit - fp32 logit| for this x (0 in fp32).
  double error_bound(const float* x) const;
  HeadPrecision precision() const { return precision_; }
  int vocab_size() const { return V_; }
  int width() const { return C_; }  // C: the features projected

 private:
  void recheck_top(const float* x, float* logits) const;
  const float* wte_ = nullptr;
  int V_ = 0, C_ = 0, threads_ = 1;
  HeadPrecision precision_ = HeadPrecision::Fp32;
  std::shared_ptr<const std::vector<float>> panels_;         // fp32: wte in panels
  std::shared_ptr<const std::vector<uint16_t>> panels_bf16_;  // bf16: its bfloat16 copy in panels
  std::vector<float> padded_;  // (m, 16 ceil(V / 16)): logits with the panels' padding, when V is not a multiple of 16
  double max_row_norm_ = 0;    // bf16: max over v of ||wte_v||_2
};

}  // namespace mosaic
