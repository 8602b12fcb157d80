// "No allocation inside the step": after warm-up steps with fixed shapes, a full training step
// (zero_grad, forward, backward, AdamW) and an evaluation pass make no heap allocation through
// operator new. This binary's operator new counts its calls while counting is on.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "core/rng.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "models/language_model.hpp"
#include "tiny_model.hpp"
#include "train/adamw.hpp"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace mosaic {
namespace {

TEST(Allocations, NoneInsideATrainingStepOrAnEvaluation) {
  for (const std::string arch : {"mosaic", "gpt", "mosaic v2"}) {
    // block_size 80: more than the attention tile and the persistent memory's row block
    ModelConfig c = testing::tiny_config(arch == "gpt" ? "gpt" : "mosaic",
                                         {.vocab_size = 300, .block_size = 80, .n_embd = 32, .pmem_size = 24});
    c.pmem_count = 2;
    if (arch == "mosaic v2") c = testing::with_v2(c, {.window = 16, .delay_min = 4, .delay_max = 20, .delay = 8});
    auto model = make_model<float>(c);
    Rng rng(3);  // the weights, then the tokens
    init_parameters(model->params(), c, rng);
    AdamW<float> optimizer(model->params(), AdamWConfig{});
    const int B = 2, T = c.block_size;
    std::vector<int32_t> idx(B * T), targets(B * T);
    for (size_t i = 0; i < idx.size(); ++i) {
      idx[i] = static_cast<int32_t>(rng.below(c.vocab_size));
      targets[i] = static_cast<int32_t>(rng.below(c.vocab_size));
    }
    auto step = [&] {
      model->params().zero_grad();
      model->forward(idx.data(), targets.data(), B, T);
      model->backward(1.0f);
      optimizer.update(model->params(), 1e-3);
      model->evaluate(idx.data(), targets.data(), B, T);
    };
    step();
    step();  // every thread's scratch has its size now
    allocations = 0;
    counting = true;
    step();
    counting = false;
    EXPECT_EQ(allocations.load(), 0) << arch;
  }
}

}  // namespace
}  // namespace mosaic
