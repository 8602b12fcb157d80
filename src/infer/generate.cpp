// Full-recompute generation loop.
#include "infer/generate.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace mosaic {

void generate(LanguageModel<float>& model, std::vector<int32_t>& context, int n, int vocab_limit, Sampler& sampler,
              Rng& rng, const std::function<void(int32_t)>& on_token) {
  MOSAIC_CHECK(!context.empty(), "empty prompt", "give at least one token (e.g. an empty -p starts from <|endoftext|>)");
  const int block = model.config().block_size, V = model.config().vocab_size;
  const int limit = std::min(vocab_limit, V);
  for (int i = 0; i < n; ++i) {
    const int T = std::min<int>(static_cast<int>(context.size()), block);
    model.forward(context.data() + context.size() - T, nullptr, 1, T);
    const int32_t next = sampler.sample(model.logits() + static_cast<int64_t>(T - 1) * V, limit, rng);
    context.push_back(next);
    if (on_token) on_token(next);
  }
}

}  // namespace mosaic
