// Three-moons trainer: batch sampling, parallel per-sequence gradients summed in fixed order,
// MLX-style AdamW, linear schedule. Not the model (model.cpp) and not the evaluation.
// Shapes: B batch, T sequence length, (T+1) x 6 reals per sequence, 54 parameters.
#include "experiments/three_moons/train.hpp"

#include <chrono>
#include <cmath>

#include "core/buffer.hpp"
#include "core/error.hpp"

namespace mosaic::three_moons {

void MlxAdamW::step(const TrainConfig& cfg, double lr, const double* grad, float* params) {
  for (int i = 0; i < kParamCount; ++i) {
    const double w = params[i] * (1.0 - lr * cfg.weight_decay);
    m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * grad[i];
    v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * grad[i] * grad[i];
    params[i] = static_cast<float>(w - lr * m[i] / (std::sqrt(v[i]) + cfg.eps));
  }
}

double learning_rate(const TrainConfig& cfg, int step) {
  const int s = step < cfg.iters ? step : cfg.iters;
  return cfg.lr + (cfg.lr_end - cfg.lr) * s / cfg.iters;
}

double batch_loss_grad(const MoonsModelConfig& mcfg, const MoonsData& data, const float* params,
                       const std::vector<int>& set_index, const std::vector<int64_t>& start, double* grad) {
  const int B = static_cast<int>(set_index.size());
  const int T = data.config().seq_len;
  const double scale = 1.0 / (static_cast<double>(B) * T * kObsDim);  // the loss is a mean
  std::vector<double> losses(B);
  Buffer<float> grads(static_cast<size_t>(B) * kParamCount);
#pragma omp parallel
  {
    Workspace<float> ws;
    Buffer<float> seq(static_cast<size_t>(T + 1) * kObsDim);
#pragma omp for schedule(dynamic, 1)
    for (int b = 0; b < B; ++b) {
      data.fill(data.train_sets()[set_index[b]], start[b], seq.data());
      losses[b] = sequence_loss(mcfg, params, seq.data(), T, ws, grads.data() + b * kParamCount, scale);
    }
  }
  double loss = 0;
  for (int i = 0; i < kParamCount; ++i) grad[i] = 0;
  for (int b = 0; b < B; ++b) {
    loss += losses[b];
    for (int i = 0; i < kParamCount; ++i) grad[i] += grads[b * kParamCount + i];
  }
  return loss * scale;
}

TrainResult train_model(const MoonsModelConfig& mcfg, const TrainConfig& tcfg, const MoonsData& data,
                        const std::function<void(int, double)>& progress) {
  MOSAIC_CHECK(tcfg.iters >= 1 && tcfg.batch >= 1, "three moons: iters and batch must be positive",
               "the reference trains 500 steps of batch 64");
  const auto t0 = std::chrono::steady_clock::now();
  TrainResult out;
  Rng irng = init_stream(tcfg.seed), drng = data_stream(tcfg.seed);
  init_params(irng, out.params.data());
  MlxAdamW opt;
  std::vector<int> set_index(tcfg.batch);
  std::vector<int64_t> start(tcfg.batch);
  double grad[kParamCount];
  for (int step = 0; step < tcfg.iters; ++step) {
    for (int b = 0; b < tcfg.batch; ++b) {  // the reference draws the triple, then the start
      set_index[b] = data.sample_train_index(drng);
      start[b] = data.sample_start(drng);
    }
    const double loss = batch_loss_grad(mcfg, data, out.params.data(), set_index, start, grad);
    MOSAIC_CHECK(std::isfinite(loss), "three moons: loss is not finite at step " + std::to_string(step),
                 "lower --lr");
    const double lr = learning_rate(tcfg, step);
    opt.step(tcfg, lr, grad, out.params.data());
    out.loss.push_back(loss);
    out.lr.push_back(lr);
    if (progress) progress(step, loss);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace mosaic::three_moons
