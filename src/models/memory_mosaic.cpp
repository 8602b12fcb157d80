// The Memory Mosaic: its blocks from the config's options, in the decoder skeleton (see
// memory_mosaic.hpp).
#include "models/memory_mosaic.hpp"

namespace mosaic {

namespace {

ContextualMemoryOptions memory_options(const ModelConfig& c) {
  ContextualMemoryOptions o{.kernel_beta_upbound = c.kernel_beta_upbound,
                            .fixed_key_decay = c.key_decay,
                            .prob_dropout = c.prob_dropout()};
  if (!c.memory_levels()) return o;
  o.short_term = c.short_term_window;
  o.long_delay_min = c.long_term_delay_min;
  o.long_delay_max = c.long_term_delay_max;
  o.long_delay_eval = c.long_term_delay;
  o.bandwidth = true;
  o.adaptive = c.adaptive_bandwidth;
  o.gated_keys = c.key_gate;
  return o;
}

template <class F, class FeedForward>
FeedForward feedforward(const ModelConfig& c) {
  if constexpr (std::is_same_v<FeedForward, SwiGlu<F>>)
    return SwiGlu<F>(c.n_embd, c.swiglu_width(), c.bias);
  else
    return PersistentMemory<F>(c.n_embd, c.n_head, c.pmem_size, c.pmem_count, c.bias, c.kernel_beta_upbound,
                               c.prob_dropout());
}

template <class F, class FeedForward>
std::vector<MosaicBlock<F, FeedForward>> mosaic_blocks(const ModelConfig& c) {
  std::vector<MosaicBlock<F, FeedForward>> blocks;
  for (int l = 0; l < c.n_layer; ++l)
    blocks.emplace_back(c.n_embd, c.bias, ContextualMemory<F>(c.n_embd, c.n_head, c.bias, memory_options(c)),
                        feedforward<F, FeedForward>(c), c.resid_dropout());
  return blocks;
}

}  // namespace

template <class F, class FeedForward>
MemoryMosaic<F, FeedForward>::MemoryMosaic(const ModelConfig& c)
    : Decoder<F, MosaicBlock<F, FeedForward>>(c, mosaic_blocks<F, FeedForward>(c), "mosaic.") {}

template <class F>
std::unique_ptr<LanguageModel<F>> make_memory_mosaic(const ModelConfig& config) {
  if (config.pmem_kind == "swiglu") return std::make_unique<MemoryMosaic<F, SwiGlu<F>>>(config);
  return std::make_unique<MemoryMosaic<F>>(config);
}

template class MemoryMosaic<float>;
template class MemoryMosaic<double>;
template class MemoryMosaic<float, SwiGlu<float>>;
template class MemoryMosaic<double, SwiGlu<double>>;
template std::unique_ptr<LanguageModel<float>> make_memory_mosaic<float>(const ModelConfig&);
template std::unique_ptr<LanguageModel<double>> make_memory_mosaic<double>(const ModelConfig&);

}  // namespace mosaic
