// Dropout (kernels/dropout.hpp): the masks' statistics and determinism, and the model-level
// contract: only training passes drop, a mask does not depend on the thread count, and each
// pass key draws its own masks. The gradients with dropout are in test_gradients.cpp.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "core/rng.hpp"
#include "kernels/dropout.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "tiny_model.hpp"

namespace mosaic::testing {
namespace {

TEST(Dropout, KeepsOneMinusPOfTheEntriesScaledByItsInverse) {
  for (double p : {0.05, 0.3, 0.9}) {
    Dropout d(p, 7);
    d.set_pass(42, true);
    const int rows = 1000, cols = 1000;
    std::vector<float> x(static_cast<size_t>(rows) * cols, 1.0f), y(x.size());
    d.apply(y.data(), cols, x.data(), cols, rows, cols, 3, 0);
    double kept = 0, sum = 0;
    for (float v : y) {
      if (v != 0) {
        ++kept;
        EXPECT_FLOAT_EQ(v, static_cast<float>(1.0 / (1.0 - p)));
      }
      sum += v;
    }
    const double n = static_cast<double>(y.size()), sigma = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(kept, n * (1 - p), 5 * sigma) << "p " << p;
    EXPECT_NEAR(sum / n, 1.0, 5 * sigma / n / (1 - p)) << "the mean is kept";
  }
}

TEST(Dropout, MasksAreAFunctionOfKeySiteSliceRowAndColumn) {
  Dropout a(0.5, 1), b(0.5, 2);
  a.set_pass(10, true);
  b.set_pass(10, true);
  const int n = 4096;
  std::vector<float> ones(n, 1.0f), m1(n), m2(n), m3(n);
  auto differing = [&](const std::vector<float>& u, const std::vector<float>& v) {
    int d = 0;
    for (int i = 0; i < n; ++i) d += u[i] != v[i];
    return d;
  };
  a.apply(m1.data(), n, ones.data(), n, 1, n, 0, 5);
  a.apply(m2.data(), n, ones.data(), n, 1, n, 0, 5);
  EXPECT_EQ(differing(m1, m2), 0) << "the same element draws the same decision";
  b.apply(m3.data(), n, ones.data(), n, 1, n, 0, 5);
  EXPECT_GT(differing(m1, m3), n / 3) << "another site";
  a.apply(m3.data(), n, ones.data(), n, 1, n, 1, 5);
  EXPECT_GT(differing(m1, m3), n / 3) << "another slice";
  a.apply(m3.data(), n, ones.data(), n, 1, n, 0, 6);
  EXPECT_GT(differing(m1, m3), n / 3) << "another row";
  a.set_pass(11, true);
  a.apply(m3.data(), n, ones.data(), n, 1, n, 0, 5);
  EXPECT_GT(differing(m1, m3), n / 3) << "another pass key";
  a.set_pass(10, false);
  EXPECT_FALSE(a.active()) << "off outside training";
}

ModelConfig small(const std::string& arch, double dropout) {
  ModelConfig c = tiny_config(arch, {.vocab_size = 31, .block_size = 70, .pmem_size = 12});
  c.dropout = dropout;
  return c;
}

TEST(Dropout, OnlyTrainingPassesDropAndTheMaskIgnoresTheThreadCount) {
  for (const std::string arch : {"mosaic", "gpt"}) {
    auto plain = make_model<float>(small(arch, 0.0));
    auto dropping = make_model<float>(small(arch, 0.3));
    Rng rng(5);
    init_parameters(plain->params(), plain->config(), rng);
    std::copy_n(plain->params().values(), plain->params().arena_size(), dropping->params().values());
    const int B = 2, T = 67;
    std::vector<int32_t> idx(B * T), targets(B * T);
    for (int i = 0; i < B * T; ++i) {
      idx[i] = static_cast<int32_t>(rng.below(31));
      targets[i] = static_cast<int32_t>(rng.below(31));
    }
    const float clean = plain->forward(idx.data(), targets.data(), B, T);
    EXPECT_FLOAT_EQ(dropping->evaluate(idx.data(), targets.data(), B, T), clean) << arch << ": evaluate never drops";
    dropping->set_dropout_key(1);
    const float one = dropping->forward(idx.data(), targets.data(), B, T);
    EXPECT_GT(std::abs(one - clean), 1e-4) << arch << ": a training pass drops";
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const float serial = dropping->forward(idx.data(), targets.data(), B, T);
    omp_set_num_threads(threads);
    EXPECT_NEAR(serial, one, 1e-5) << arch << ": the masks are the same with one thread";
    dropping->set_dropout_key(2);
    EXPECT_GT(std::abs(dropping->forward(idx.data(), targets.data(), B, T) - one), 1e-5) << arch << ": another key";
    dropping->forward(idx.data(), nullptr, B, T);
    plain->forward(idx.data(), nullptr, B, T);
    for (int i = 0; i < B * T * 31; ++i) ASSERT_EQ(dropping->logits()[i], plain->logits()[i]) << arch << ": logits passes never drop";
  }
}

}  // namespace
}  // namespace mosaic::testing
