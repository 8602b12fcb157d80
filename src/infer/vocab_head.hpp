// The tied output projection of a stream, once per generated token: logits = wte x over the
// whole vocabulary. It reads all of wte (25.7 MB at d=128) for a handful of flops per byte,
// so memory, not arithmetic, sets its speed.
// fp32: the exact product. bf16: products with a bfloat16 copy of wte (half the bytes), then
// every logit that may lie within the error bound of the largest is recomputed in fp32, so
// those logits, the argmax and with it greedy decoding are exactly fp32's; the others are
// within the bound of their fp32 values. Shapes: wte (V, C); x (C); logits (V).
// project_batch: m streams' x at once (X (m, C), logits (m, V)), wte read once for all of them:
// fp32 by matmat_rows (each logit within float rounding of project's), bf16 as project's
// products and re-check row by row (the same logits as project).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mosaic {

enum class HeadPrecision { Fp32, Bf16 };
HeadPrecision parse_head_precision(const std::string& name);  // "fp32" | "bf16", else Error
std::string head_precision_name(HeadPrecision p);

class VocabHead {
 public:
  VocabHead() = default;
  // wte must outlive the head (no copy in fp32). threads: for the projection's rows.
  VocabHead(const float* wte, int V, int C, HeadPrecision precision, int threads);
  void project(const float* x, float* logits);
  void project_batch(const float* X, int m, float* logits);
  // project_batch for a batch that changes from call to call (a server's): each row's logits
  // are the same whatever m and whatever the other rows (fp32: matmat_rows even for m = 1, where
  // project_batch reads wte by matvec; so they are within float rounding of project's).
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
  std::vector<uint16_t> wte_bf16_;  // (V rounded up to 8, C), zero rows at the end
  std::vector<float> padded_;       // (m, V rounded up to 8): logits of the padded rows
  double max_row_norm_ = 0;         // max over v of ||wte_v||_2
};

}  // namespace mosaic
