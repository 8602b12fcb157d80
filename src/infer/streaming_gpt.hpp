// The GPT baseline as a stream: a KV cache per layer (keys and values of every position in
// the window), so a token costs O(window x C) for attention and O(C^2) for the rest.
// Past block_size the window slides. With learned absolute positions (wpe), shifting cached
// keys to new positions (llama.cpp's context shift) would be wrong: the last `keep` tokens are
// re-encoded at positions 0..keep-1 and the stream goes on; keep = block_size - 1 reproduces
// the reference's crop-and-recompute exactly, at the cost of re-encoding the window for every
// token; the default block_size / 2 re-encodes once every block_size / 2 tokens and always
// conditions on at least block_size / 2 tokens. With rope or alibi, attention depends on
// positions only through their differences: the oldest entries are dropped and the rest stay
// (keys rotated at their absolute positions), with no re-encoding.
// The math is the model's own: every step calls the layers of models/gpt.hpp.
// Shapes: x (rows, C); qkv (rows, 3C); cache per layer (H, block_size, hs) for k and v.
#pragma once
#include <vector>

#include "infer/stream.hpp"
#include "infer/vocab_head.hpp"
#include "models/gpt.hpp"

namespace mosaic {

class StreamingGpt final : public TokenStream {
 public:
  // The model must outlive the stream; its weights are read, not copied.
  StreamingGpt(const Gpt<float>& model, const StreamOptions& options);

  const float* advance(const int32_t* tokens, int n) override;
  void reset() override;
  int64_t position() const override { return fed_; }
  std::string describe() const override;

  int window() const { return static_cast<int>(window_.size()); }  // tokens the next one attends to
  int keep() const { return keep_; }

 private:
  struct Layer {
    std::vector<float> k_cache, v_cache;  // (H, block, hs)
  };

  void slide();
  void forward_chunk(const int32_t* tokens, int rows, bool want_features);
  void attention(const GptBlock<float>& block, Layer& L, const float* qkv, float* y, int rows);

  const Gpt<float>& model_;
  int C_ = 0, H_ = 0, hs_ = 0, block_ = 0, keep_ = 0;
  bool relative_ = false;  // rope or alibi: the window slides by dropping its oldest entries
  int64_t base_ = 0;       // absolute position of the window's first entry
  std::vector<Layer> layers_;
  std::vector<int32_t> window_;  // the tokens whose keys and values are cached, in order
  int64_t fed_ = 0;
  std::vector<float> x_, pos_, a_, qkv_, y_, out_, hidden_, scores_;  // scratch
  std::vector<int32_t> positions_;       // learned: rows' window positions (wpe rows)
  std::vector<int64_t> abs_positions_;   // relative: rows' absolute positions
};

}  // namespace mosaic
