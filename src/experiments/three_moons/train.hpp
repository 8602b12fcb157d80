// Three-moons training: the reference recipe (ThreeMoons/train_planets-*.py): batches of 64
// sequences drawn from the training period sets, clipped MSE, AdamW as MLX 0.9 implements it,
// learning rate linear from 1e-2 to 5e-6 over 500 steps. Not the LM trainer (src/train/).
// Shapes: B batch, T sequence length, 54 real parameters.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "experiments/three_moons/data.hpp"
#include "experiments/three_moons/model.hpp"

namespace mosaic::three_moons {

struct TrainConfig {
  int iters = 500;
  int batch = 64;
  double lr = 1e-2;      // linear schedule from lr ...
  double lr_end = 5e-6;  // ... to lr_end at step `iters`
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  uint64_t seed = 100;  // the init and data streams both derive from it
};

struct TrainResult {
  std::array<float, kParamCount> params{};
  std::vector<double> loss;  // per step, batch mean
  std::vector<double> lr;    // per step
  double seconds = 0;
};

// Adam without bias correction, as in MLX 0.9 (the reference's optimizer):
//   m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2,  w = w (1 - lr wd) - lr m / (sqrt(v) + eps).
// Early steps are therefore larger than bias-corrected Adam's (m/sqrt(v) up to ~6.5 on a
// constant gradient); that is part of the recipe the paper's figures come from.
struct MlxAdamW {
  std::array<double, kParamCount> m{}, v{};
  void step(const TrainConfig& cfg, double lr, const double* grad, float* params);
};

// The reference's schedule: lr at update s (0-based) is lr + (lr_end - lr) * min(s, iters) / iters.
double learning_rate(const TrainConfig& cfg, int step);

// One batch: mean clipped loss and its gradient (double, summed over sequences in batch order,
// so the result does not depend on the thread count).
double batch_loss_grad(const MoonsModelConfig& mcfg, const MoonsData& data, const float* params,
                       const std::vector<int>& set_index, const std::vector<int64_t>& start, double* grad);

// Trains from init_params(seed); `progress(step, loss)` is called after every step.
TrainResult train_model(const MoonsModelConfig& mcfg, const TrainConfig& tcfg, const MoonsData& data,
                        const std::function<void(int, double)>& progress = {});

}  // namespace mosaic::three_moons
