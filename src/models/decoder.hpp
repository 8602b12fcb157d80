// The decoder skeleton both language models share: token embedding (+ learned positions for
// GPT), L residual blocks, final LayerNorm, output head tied to the embedding, cross-entropy.
// What differs (the block's layers, the parameter prefix) comes from memory_mosaic.cpp / gpt.cpp.
// Shapes: idx (B, T); x (B, T, C); logits (B, T, V).
#pragma once
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/error.hpp"
#include "core/step_profile.hpp"
#include "layers/embedding.hpp"
#include "layers/layernorm.hpp"
#include "layers/tied_lm_head.hpp"
#include "models/language_model.hpp"

namespace mosaic {

template <class F, class BlockT>
class Decoder : public LanguageModel<F> {
 public:
  // prefix: "mosaic." or "transformer." (the reference's module names).
  Decoder(const ModelConfig& config, std::vector<BlockT> blocks, const std::string& prefix, bool learned_positions)
      : LanguageModel<F>(config),
        wte_(config.vocab_size, config.n_embd),
        wpe_(learned_positions ? config.block_size : 0, config.n_embd),
        blocks_(std::move(blocks)),
        ln_f_(config.n_embd, config.bias) {
    auto& table = this->params_;
    wte_.register_params(table, prefix + "wte.weight");
    if (wpe_.V) wpe_.register_params(table, prefix + "wpe.weight");
    for (size_t l = 0; l < blocks_.size(); ++l) blocks_[l].register_params(table, prefix + "h." + std::to_string(l) + ".");
    ln_f_.register_params(table, prefix + "ln_f.");
    table.allocate();
    head_.wte = &wte_;
  }

  void backward(F loss_scale) override {
    const int C = this->config_.n_embd;
    const int64_t n = static_cast<int64_t>(B_) * T_ * C;
    dx_.resize(n);
    dnext_.resize(n);
    head_.profile = this->profile_;
    head_.backward(loss_scale, dnext_.data());
    {
      ProfileScope timer(this->profile_, "ln_f", true);
      ln_f_.backward(dnext_.data(), dx_.data());
    }
    for (size_t l = blocks_.size(); l-- > 0;) {
      std::swap(dx_, dnext_);  // dnext_ = gradient wrt block l's output
      dx_.zero();
      blocks_[l].profile = this->profile_;
      blocks_[l].backward(dnext_.data(), dx_.data());
    }
    ProfileScope timer(this->profile_, "embedding", true);
    wte_.backward(dx_.data());
    if (wpe_.V) wpe_.backward(dx_.data());
  }

  const F* logits() const override {
    MOSAIC_CHECK(head_.logits_kept, "no logits to read", "run forward without targets first: a training forward or evaluate does not keep them");
    return head_.logits.data();
  }

 protected:
  F forward_checked(const int32_t* idx, const int32_t* targets, int B, int T, typename LanguageModel<F>::Pass pass) override {
    using Pass = typename LanguageModel<F>::Pass;
    B_ = B;
    T_ = T;
    const int C = this->config_.n_embd;
    const int64_t N = static_cast<int64_t>(B) * T;
    StepProfile* profile = this->profile_;
    {
      ProfileScope timer(profile, "embedding", false);
      x0_.resize(N * C);
      const F* tok = wte_.forward(idx, N);
      for (int64_t i = 0; i < N * C; ++i) x0_[i] = tok[i];
      if (wpe_.V) {
        positions_.resize(N);
        for (int64_t i = 0; i < N; ++i) positions_[i] = static_cast<int32_t>(i % T);
        const F* pos = wpe_.forward(positions_.data(), N);
        for (int64_t i = 0; i < N * C; ++i) x0_[i] += pos[i];
      }
    }
    const F* x = x0_.data();
    for (auto& block : blocks_) {
      block.profile = profile;
      x = block.forward(x, B, T);
    }
    {
      ProfileScope timer(profile, "ln_f", false);
      x = ln_f_.forward(x, N);
    }
    head_.profile = profile;
    return head_.forward(x, N, pass == Pass::Logits ? nullptr : targets, pass == Pass::Train);
  }

 private:
  Embedding<F> wte_, wpe_;
  std::vector<BlockT> blocks_;
  LayerNorm<F> ln_f_;
  TiedLmHead<F> head_;

  int B_ = 0, T_ = 0;
  Buffer<F> x0_, dx_, dnext_;
  Buffer<int32_t> positions_;
};

}  // namespace mosaic
