// The GPT baseline as a stream: a KV cache per layer (keys and values of every position in
// the window), so a token costs O(window x C) for attention and O(C^2) for the rest.
// Past block_size the window slides: GPT has learned absolute positions (wpe), so shifting
// cached keys to new positions (llama.cpp's context shift, valid with RoPE) would be wrong.
// Instead the last `keep` tokens are re-encoded at positions 0..keep-1 and the stream goes
// on; keep = block_size - 1 reproduces the reference's crop-and-recompute exactly, at the
// cost of re-encoding the window for every token; the default block_size / 2 re-encodes once
// every block_size / 2 tokens and always conditions on at least block_size / 2 tokens.
// Shapes: x (rows, C); qkv (rows, 3C); cache per layer (H, block_size, hs) for k and v.
#pragma once
#include <vector>

#include "infer/stream.hpp"
#include "infer/stream_util.hpp"
#include "infer/vocab_head.hpp"

namespace mosaic {

class StreamingGpt final : public TokenStream {
 public:
  StreamingGpt(const LanguageModel<float>& model, const StreamOptions& options);

  const float* push(int32_t token) override { return push_many(&token, 1); }
  const float* push_many(const int32_t* tokens, int n) override;
  void reset() override;
  int64_t position() const override { return fed_; }
  int vocab_size() const override { return V_; }
  std::string describe() const override;

  int window() const { return static_cast<int>(window_.size()); }  // tokens the next one attends to
  int keep() const { return keep_; }

 private:
  struct Layer {
    LayerNormView ln_1, ln_2;
    LinearView c_attn, attn_proj, c_fc, mlp_proj;
    std::vector<float> k_cache, v_cache;  // (H, block, hs)
  };

  void slide();
  void forward_chunk(const int32_t* tokens, int rows, bool want_logits);
  void attention(Layer& L, const float* qkv, float* y, int rows);

  int C_ = 0, H_ = 0, hs_ = 0, V_ = 0, block_ = 0, keep_ = 0;
  const float *wte_ = nullptr, *wpe_ = nullptr;
  LayerNormView ln_f_;
  std::vector<Layer> layers_;
  std::vector<int32_t> window_;  // the tokens whose keys and values are cached, in order
  int64_t fed_ = 0;
  VocabHead head_;
  std::vector<float> x_, a_, qkv_, y_, out_, hidden_, scores_, logits_;
};

}  // namespace mosaic
