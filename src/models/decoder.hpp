// The decoder skeleton both language models share: token embedding (+ learned positions for
// GPT with pos_encoding "learned"), L residual blocks, final LayerNorm, output head tied to the embedding, cross-entropy.
// What differs (the block's layers, the parameter prefix) comes from memory_mosaic.hpp / gpt.hpp.
// forward_checked runs whole sequences; Decoder::Stream, right below it, runs the same steps
// one chunk of tokens at a time through each block's step (streaming inference).
// Shapes: idx (B, T); x (B, T, C); logits (B, T, V); a stream's x (rows, C).
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/activations.hpp"
#include "core/error.hpp"
#include "core/step_profile.hpp"
#include "kernels/attention.hpp"
#include "kernels/dropout.hpp"
#include "kernels/threads.hpp"
#include "layers/embedding.hpp"
#include "layers/layernorm.hpp"
#include "layers/tied_lm_head.hpp"
#include "layers/stream_slices.hpp"
#include "models/language_model.hpp"

namespace mosaic {

template <class F, class BlockT>
class Decoder : public LanguageModel<F> {
 public:
  // prefix: "mosaic." or "transformer." (the reference's module names).
  Decoder(const ModelConfig& config, std::vector<BlockT> blocks, const std::string& prefix)
      : LanguageModel<F>(config),
        prefix_(prefix),
        wte_(config.vocab_size, config.n_embd),
        wpe_(config.learned_positions() ? config.block_size : 0, config.n_embd),
        blocks_(std::move(blocks)),
        ln_f_(config.n_embd, config.bias, config.scale_logits ? 1.0 / std::sqrt(config.n_embd) : 1.0),
        embd_drop_(config.embd_dropout(), kEmbeddingSite),
        head_(&wte_) {
    auto& table = this->params_;
    wte_.register_params(table, prefix + "wte.weight");
    if (wpe_.V) wpe_.register_params(table, prefix + "wpe.weight");
    for (size_t l = 0; l < blocks_.size(); ++l) {
      const size_t first = table.entries().size();
      blocks_[l].register_params(table, block_prefix(l));
      const auto& e = table.entries();
      this->block_params_.emplace_back(e[first].offset, e.back().offset + e.back().numel);
    }
    ln_f_.register_params(table, prefix + "ln_f.");  // make_model allocates the table
  }

  const F* logits() const override {
    MOSAIC_CHECK(head_.logits_kept, "no logits to read", "run forward without targets first: a training forward or evaluate does not keep them");
    return head_.logits.data();
  }

  const F* token_losses() const override {
    MOSAIC_CHECK(head_.losses_kept, "no per-token losses to read", "run forward with targets or evaluate first");
    return head_.row_loss.data();
  }

  typename LanguageModel<F>::AttentionView attention(int layer) const override {
    MOSAIC_CHECK(layer >= 0 && layer < static_cast<int>(blocks_.size()), "no layer " + std::to_string(layer),
                 "the model has " + std::to_string(blocks_.size()) + " layers, numbered from 0");
    const auto& m = blocks_[layer].mixer;
    MOSAIC_CHECK(m.T > 0, "no attention to read", "run a forward pass first");
    return {m.weights(), m.B, m.H, m.T, m.visible()};
  }

  const Embedding<F>& wte() const { return wte_; }
  const Embedding<F>& wpe() const { return wpe_; }  // V = 0 without learned positions
  const std::vector<BlockT>& blocks() const { return blocks_; }
  const LayerNorm<F>& ln_f() const { return ln_f_; }

 protected:
  F forward_checked(const int32_t* idx, const int32_t* targets, int B, int T, typename LanguageModel<F>::Pass pass) override {
    using Pass = typename LanguageModel<F>::Pass;
    const int C = this->config_.n_embd;
    const int64_t N = static_cast<int64_t>(B) * T;
    if (pass == Pass::Logits) {
      // Keeps (B, T, V) logits. T rounded up to a power of two: a context growing one token at
      // a time (the reference's generate) plans log2(block_size) times, not block_size times.
      const int room = std::min(this->config_.block_size, static_cast<int>(std::bit_ceil(static_cast<unsigned>(T))));
      this->fit(B, room, static_cast<int64_t>(B) * room);
    } else {
      this->fit(B, T, 0);
    }
    StepProfile* profile = this->profile_;
    set_dropout_pass(pass == Pass::Train);
    {
      ProfileScope timer(profile, "embedding", false);
      const F* tok = wte_.forward(idx, N);
      for (int64_t i = 0; i < N * C; ++i) x0_[i] = tok[i];
      if (wpe_.V) {
        for (int64_t i = 0; i < N; ++i) positions_[i] = static_cast<int32_t>(i % T);
        const F* pos = wpe_.forward(positions_.data(), N);
        for (int64_t i = 0; i < N * C; ++i) x0_[i] += pos[i];
      }
      if (embd_drop_.active()) embd_drop_.apply(x0_.data(), C, x0_.data(), C, N, C, 0, 0);
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
    if (pass == Pass::Logits) {
      head_.logits_of(x, N);
      return F(0);
    }
    return head_.loss(x, N, targets, pass == Pass::Train);
  }

 public:
  // The decoder as a stream: embeddings (learned positions: the window's), each block's step,
  // ln_f of the last row. A mixer with a window (GPT's KV cache) slides when full: learned
  // positions re-encode the newest `keep` tokens at positions 0 .. keep - 1 (keep =
  // block_size - 1 is the reference's crop-and-recompute, at one re-encoding per token; the
  // default block_size / 2 re-encodes once every block_size / 2 tokens); relative positions
  // (rope, alibi) drop the older entries and keep the rest as they are. A Memory Mosaic has no
  // window: its memories store every pair, or evict by their limit.
  static constexpr bool kWindowed = requires(typename BlockT::Stream s) { s.mixer.drop_oldest(0); };

  class Stream final : public ModelStream<F> {
    friend class Decoder;  // advance_streams steps several streams together

   public:
    Stream(const Decoder& model, const StreamSettings& settings) : model_(model), settings_(settings) {
      const ModelConfig& c = model.config();
      settings_.window = c.block_size;
      MOSAIC_CHECK(settings.max_rows > 0, "a stream of " + std::to_string(settings.max_rows) + " rows per step",
                   "use kStreamChunk");
      if constexpr (kWindowed) {
        MOSAIC_CHECK(settings.keep >= 0 && settings.keep < c.block_size,
                     "--gpt-keep " + std::to_string(settings.keep) + " must be below block_size " + std::to_string(c.block_size),
                     "0 keeps block_size / 2 tokens when the window slides");
        settings_.keep = settings.keep > 0 ? settings.keep : c.block_size / 2;
      }
      for (const auto& block : model.blocks()) blocks_.push_back(block.start_stream(settings_));
      const size_t rows = settings_.max_rows;
      x_.resize(rows * c.n_embd);
      if (model.wpe().V) pos_.resize(rows * c.n_embd);
      positions_.resize(rows);
      features_.resize(c.n_embd);
    }

    const F* advance(const int32_t* tokens, int n) override {
      MOSAIC_CHECK(n > 0, "no tokens to push", "pass at least one token");
      model_.check_tokens(tokens, n);
      for (int i = 0; i < n;) {
        if (blocks_.front().mixer.room() == 0) slide();
        const int rows = std::min({settings_.max_rows, n - i, blocks_.front().mixer.room()});
        const StepThreads threads;
        const StreamSlice<Stream> one{this, rows};
        forward({&one, 1}, tokens + i, i + rows == n);
        i += rows;
      }
      fed_ += n;
      return features_.data();
    }

    void reset() override {
      for (auto& b : blocks_) b.reset();
      window_.clear();
      fed_ = 0;
    }
    int64_t position() const override { return fed_; }
    const F* features() const override { return features_.data(); }

    void save(StreamState& out) const override {
      if constexpr (kWindowed) {
        throw Error("a GPT's stream is not saved to a memory file", "memory files hold Memory Mosaic streams: use a Memory Mosaic model");
      } else {
        for (size_t l = 0; l < blocks_.size(); ++l) model_.blocks()[l].save_stream(blocks_[l], out, block_name(l));
        out.put_scalar("position", fed_);
        out.put("features", {model_.config().n_embd}, features_.data());
      }
    }

    void load(const StreamState& in) override {
      if constexpr (kWindowed) {
        throw Error("a GPT's stream is not loaded from a memory file", "memory files hold Memory Mosaic streams: use a Memory Mosaic model");
      } else {
        try {
          for (size_t l = 0; l < blocks_.size(); ++l) model_.blocks()[l].load_stream(blocks_[l], in, block_name(l));
          fed_ = in.scalar<int64_t>("position");
          MOSAIC_CHECK(fed_ >= 0, "memory position is negative", "the memory file is damaged; write it again with --save-memory");
          features_ = in.take<F>("features", {model_.config().n_embd});
        } catch (...) {
          reset();
          throw;
        }
      }
    }

    std::vector<MemoryStore<F>*> memory_stores() override {
      std::vector<MemoryStore<F>*> stores;
      if constexpr (!kWindowed)
        for (auto& b : blocks_)
          for (auto& level : b.mixer.levels)
            for (auto& store : level.stores) stores.push_back(&store);
      return stores;
    }

    std::string describe() const override {
      const ModelConfig& c = model_.config();
      std::string s = c.arch + " streaming, " + blocks_.front().mixer.describe();
      if (kWindowed)
        s += " (" + (c.learned_positions() ? std::string("learned") : c.pos_encoding) + " positions; when full " +
             (c.learned_positions() ? "re-encodes" : "keeps") + " the newest " + std::to_string(settings_.keep) + ")";
      return s;
    }

    std::vector<int> entries_per_head() const override {
      std::vector<int> n;
      for (const auto& b : blocks_)
        for (int h = 0; h < model_.config().n_head; ++h) n.push_back(b.mixer.entries(h));
      return n;
    }

    // For inspection and tests: block l's stream state (its memory stores, its KV cache).
    const typename BlockT::Stream& block(int l) const { return blocks_.at(l); }

   private:
    static std::string block_name(size_t l) { return "h." + std::to_string(l) + "."; }

    // The streams' next tokens (the slices' rows, in order), whose window room the caller has
    // checked; the first stream's scratch serves every slice. want_features: each stream's
    // last row through ln_f.
    static void forward(StreamSlices<Stream> slices, const int32_t* tokens, bool want_features) {
      Stream& lead = *slices.front().stream;
      const Decoder& model = lead.model_;
      const int C = model.config().n_embd, rows = total_rows(slices);
      F* x = lead.x_.data();
      model.wte().lookup(x, tokens, rows);
      if (model.wpe().V) {
        for (int i = 0, row = 0; i < static_cast<int>(slices.size()); row += slices[i++].rows) {
          Stream& s = *slices[i].stream;
          for (int r = 0; r < slices[i].rows; ++r) lead.positions_[row + r] = static_cast<int32_t>(s.window_.size()) + r;
          s.window_.insert(s.window_.end(), tokens + row, tokens + row + slices[i].rows);
        }
        model.wpe().lookup(lead.pos_.data(), lead.positions_.data(), rows);
        for (int64_t i = 0; i < static_cast<int64_t>(rows) * C; ++i) x[i] += lead.pos_[i];
      }
      for (size_t l = 0; l < model.blocks().size(); ++l)
        model.blocks()[l].step(x, slices_of(slices, [l](Stream& s) -> auto& { return s.blocks_[l]; }));
      if (!want_features) return;
      for (int64_t row = 0; const auto& [s, n] : slices) {
        row += n;
        model.ln_f().apply(s->features_.data(), x + (row - 1) * C, 1);
      }
    }

    void slide() {
      if constexpr (kWindowed) {
        const int keep = settings_.keep;
        if (!model_.wpe().V) {
          for (auto& b : blocks_) b.mixer.drop_oldest(keep);
          return;
        }
        const std::vector<int32_t> kept(window_.end() - keep, window_.end());
        for (auto& b : blocks_) b.reset();
        window_.clear();
        for (int i = 0; i < keep; i += settings_.max_rows) {
          const StreamSlice<Stream> one{this, std::min(settings_.max_rows, keep - i)};
          forward({&one, 1}, kept.data() + i, false);
        }
      }
    }

    const Decoder& model_;
    StreamSettings settings_;
    std::vector<typename BlockT::Stream> blocks_;
    std::vector<int32_t> window_;      // learned positions: the tokens in the KV caches, in order
    int64_t fed_ = 0;
    std::vector<F> x_, pos_, features_;  // (max_rows, C) x2; (C)
    std::vector<int32_t> positions_;   // (max_rows) the rows' wpe positions
  };

  std::unique_ptr<ModelStream<F>> start_stream(const StreamSettings& settings) const override {
    return std::make_unique<Stream>(*this, settings);
  }

  void advance_streams(std::span<ModelStream<F>* const> streams, const int32_t* tokens) const override {
    std::vector<StreamSlice<Stream>> slices;
    for (ModelStream<F>* s : streams) {
      auto* own = dynamic_cast<Stream*>(s);
      MOSAIC_CHECK(own && &own->model_ == this, "a stream of another model among the streams stepped together",
                   "step together only streams opened on the same model");
      for (const auto& earlier : slices)
        MOSAIC_CHECK(earlier.stream != own, "the same stream twice among the streams stepped together", "a bug: report it");
      slices.push_back({own, 1});
    }
    check_tokens(tokens, static_cast<int>(streams.size()));
    for (const auto& [s, n] : slices)
      if (s->blocks_.front().mixer.room() == 0) s->slide();
    for (size_t i = 0; i < slices.size();) {  // as many streams as the first one's scratch holds
      const size_t n = std::min(slices.size() - i, static_cast<size_t>(slices[i].stream->settings_.max_rows));
      const StepThreads threads;
      Stream::forward(StreamSlices<Stream>(slices.data() + i, n), tokens + i, true);
      i += n;
    }
    for (const auto& [s, n] : slices) s->fed_ += 1;
  }

  // Error with a hint unless every id is inside the vocabulary.
  void check_tokens(const int32_t* tokens, int n) const {
    const int V = this->config_.vocab_size;
    for (int i = 0; i < n; ++i)
      MOSAIC_CHECK(tokens[i] >= 0 && tokens[i] < V,
                   "token id " + std::to_string(tokens[i]) + " outside the vocabulary of " + std::to_string(V),
                   "the prompt and the model must use the same tokenizer");
  }
  const F* embedding_weight() const override { return wte_.weight.value; }

 public:
  // Mirror of forward_checked: the head's gradient (made during the forward pass) scaled
  // and added, then ln_f, the blocks in reverse, the embeddings.
  void backward(F loss_scale) override {
    head_.profile = this->profile_;
    dnext_.zero();
    head_.add_grads(loss_scale, dnext_.data());
    {
      ProfileScope timer(this->profile_, "ln_f", true);
      dx_.zero();
      ln_f_.backward(dnext_.data(), dx_.data());
    }
    for (size_t l = blocks_.size(); l-- > 0;) {
      std::swap(dx_, dnext_);  // dnext_ = gradient wrt block l's output
      dx_.zero();
      blocks_[l].profile = this->profile_;
      blocks_[l].backward(dnext_.data(), dx_.data());
      if (this->backward_hook_) this->backward_hook_(static_cast<int>(l));
    }
    ProfileScope timer(this->profile_, "embedding", true);
    const int C = this->config_.n_embd;
    if (embd_drop_.active()) embd_drop_.apply(dx_.data(), C, dx_.data(), C, wte_.N, C, 0, 0);
    wte_.backward(dx_.data());
    if (wpe_.V) wpe_.backward(dx_.data());
  }

 protected:
  void plan(Activations<F>& acts, int B, int T, int64_t logits_rows) override {
    const int64_t N = static_cast<int64_t>(B) * T;
    const int C = this->config_.n_embd;
    wte_.plan(acts, prefix_ + "wte", N);
    if (wpe_.V) wpe_.plan(acts, prefix_ + "wpe", N);
    positions_.assign(N, 0);
    for (auto [name, slot] : {std::pair{"x0", &x0_}, {"dx", &dx_}, {"dnext", &dnext_}})
      acts.add(prefix_ + name, {B, T, C}, slot);
    for (size_t l = 0; l < blocks_.size(); ++l) blocks_[l].plan(acts, block_prefix(l), B, T);
    ln_f_.plan(acts, prefix_ + "ln_f.", N);
    head_.plan(acts, "lm_head.", N, logits_rows);
  }

 private:
  std::string block_prefix(size_t l) const { return prefix_ + "h." + std::to_string(l) + "."; }

  // Dropout on for a training pass (each block its own key from the model's), off otherwise.
  void set_dropout_pass(bool training) {
    const uint64_t key = this->dropout_key_;
    embd_drop_.set_pass(key, training);
    for (size_t l = 0; l < blocks_.size(); ++l) blocks_[l].set_pass(mix64(key + l + 1), training);
  }

  std::string prefix_;
  Embedding<F> wte_, wpe_;
  std::vector<BlockT> blocks_;
  LayerNorm<F> ln_f_;  // its output scaled by 1/sqrt(n_embd) with scale_logits: the logits are
  static constexpr uint64_t kEmbeddingSite = 0;  // the embeddings' dropout site (block.hpp has the others)
  Dropout embd_drop_;
  TiedLmHead<F> head_;

  Activation<F> x0_, dx_, dnext_;  // (B, T, C): block 0's input; the backward's two gradients
  std::vector<int32_t> positions_;  // (B, T): 0..T-1 per sequence, for wpe
};

}  // namespace mosaic
