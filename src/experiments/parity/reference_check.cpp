// The four stages of a parity fixture: forward, backward, 10 AdamW steps, greedy decoding.
#include "experiments/parity/reference_check.hpp"

#include <algorithm>
#include <functional>
#include <cmath>
#include <tuple>
#include <utility>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/model_io.hpp"
#include "io/safetensors.hpp"
#include "models/factory.hpp"
#include "models/language_model.hpp"
#include "train/adamw.hpp"

namespace mosaic {

bool ParityReport::pass() const {
  return !lines.empty() && std::all_of(lines.begin(), lines.end(), [](const ParityLine& l) { return l.ok; });
}

namespace {

// max |a - b| and that over max |b| (NaN counts as infinitely far).
template <class A, class B>
std::pair<double, double> max_difference(const A* a, const B* b, size_t n) {
  double max_abs = 0, scale = 0;
  for (size_t i = 0; i < n; ++i) {
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
    const double d = std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    max_abs = std::isnan(d) ? INFINITY : std::max(max_abs, d);
  }
  return {max_abs, max_abs == 0 ? 0 : max_abs / std::max(scale, 1e-30)};
}

ParityLine compare(const std::string& what, const float* ours, const std::vector<float>& ref, double tolerance) {
  ParityLine line{what, 0, 0, tolerance, true};
  std::tie(line.max_abs, line.max_rel) = max_difference(ours, ref.data(), ref.size());
  line.ok = line.max_rel <= tolerance;
  return line;
}

// Every parameter's gradient of the loss on (idx, targets) by our model in float64, from the
// float32 weights in `params`.
ParamTable<double> float64_gradients(const ModelConfig& config, ParamTable<float>& params, const std::vector<int32_t>& idx,
                                     const std::vector<int32_t>& targets, int B, int T) {
  auto model = make_model<double>(config);
  auto& exact = model->params();
  for (const auto& e : exact.entries()) {
    const float* from = params.value(*params.find(e.name));
    std::copy(from, from + e.numel, exact.value(e));
  }
  model->forward(idx.data(), targets.data(), B, T);
  exact.zero_grad();
  model->backward(1.0);
  return std::move(exact);
}

std::vector<int32_t> read_ids(const safetensors::Reader& file, const std::string& name) {
  std::vector<int64_t> wide = file.read_i64(name);
  return {wide.begin(), wide.end()};
}

// Greedy continuation as the fixture made it: every step a full forward over the whole
// sequence (cropped to block_size), argmax of the last position's logits.
std::vector<int32_t> greedy(LanguageModel<float>& model, std::vector<int32_t> seq, size_t new_tokens) {
  const int V = model.config().vocab_size, block = model.config().block_size;
  std::vector<int32_t> out;
  for (size_t s = 0; s < new_tokens; ++s) {
    const int T = std::min<int>(static_cast<int>(seq.size()), block);
    model.forward(seq.data() + seq.size() - T, nullptr, 1, T);
    const float* last = model.logits() + static_cast<int64_t>(T - 1) * V;
    const int32_t next = static_cast<int32_t>(std::max_element(last, last + V) - last);
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

void require_fixture(const safetensors::Reader& file, const std::string& path) {
  MOSAIC_CHECK(file.has("input.idx"),
               path + " is not a parity fixture (no input.idx)" +
                   (file.metadata_or("format", "") == kCheckpointFormat ? ": it is a model file" : ""),
               "mosaic check compares with PyTorch fixtures (../shared/reference, or tools/torch_fixture.py MODEL "
               "-o FIXTURE); mosaic info shows a model file");
}

// The fixture's batch: inputs and targets, (B, T) each.
struct FixtureBatch {
  int B = 0, T = 0;
  std::vector<int32_t> idx, targets;
};

FixtureBatch read_batch(const safetensors::Reader& file, const std::string& path) {
  const auto& idx_info = file.info("input.idx");
  MOSAIC_CHECK(idx_info.shape.size() == 2, path + ": input.idx must be (B, T)", "regenerate the fixture");
  FixtureBatch b{static_cast<int>(idx_info.shape[0]), static_cast<int>(idx_info.shape[1]), read_ids(file, "input.idx"),
                 read_ids(file, "input.targets")};
  MOSAIC_CHECK(b.targets.size() == b.idx.size(), path + ": input.targets and input.idx differ in size", "regenerate the fixture");
  return b;
}

using AddLine = std::function<void(ParityLine)>;

// 1. forward: logits (a pass without targets keeps them), then the loss.
void check_forward(LanguageModel<float>& model, const safetensors::Reader& file, const FixtureBatch& b, const AddLine& add) {
  model.forward(b.idx.data(), nullptr, b.B, b.T);
  add(compare("logits", model.logits(), file.read_f32("output.logits"), kLogitsTolerance));
  const float loss = model.forward(b.idx.data(), b.targets.data(), b.B, b.T);
  add(compare("loss", &loss, file.read_f32("output.loss"), kLogitsTolerance));
}

// 2. backward: every parameter's gradient. PyTorch's float32 gradients carry their own
// rounding, which on ill-conditioned sums (a leaky average's decay sums T^2 terms there) can
// reach the tolerance at full size. A gradient that misses it is judged against our float64
// gradient of the same batch: it passes if ours is within tolerance / 2 of that and the
// reference within 2 tolerances. A wrong formula, which the float64 run shares, still fails:
// the reference is then far from it. Runs after check_forward's pass with targets.
void check_gradients(LanguageModel<float>& model, const safetensors::Reader& file, const FixtureBatch& b,
                     const AddLine& add) {
  auto& params = model.params();
  params.zero_grad();
  model.backward(1.0f);
  std::vector<ParityLine> grad_lines;
  std::vector<std::vector<float>> grad_refs;
  bool all_close = true;
  for (const auto& e : params.entries()) {
    grad_refs.push_back(file.read_f32("grad." + e.name));
    grad_lines.push_back(compare("grad " + e.name, params.grad(e), grad_refs.back(), kGradTolerance));
    all_close = all_close && grad_lines.back().ok;
  }
  if (!all_close) {
    ParamTable<double> exact = float64_gradients(model.config(), params, b.idx, b.targets, b.B, b.T);
    for (size_t i = 0; i < grad_lines.size(); ++i) {
      ParityLine& line = grad_lines[i];
      if (line.ok) continue;
      const ParamEntry& e = params.entries()[i];
      const double* truth = exact.grad(*exact.find(e.name));
      line.ours_vs_f64 = max_difference(params.grad(e), truth, e.numel).second;
      line.reference_vs_f64 = max_difference(grad_refs[i].data(), truth, e.numel).second;
      line.ok = line.ours_vs_f64 <= kGradTolerance / 2 && line.reference_vs_f64 <= 2 * kGradTolerance;
    }
  }
  for (auto& line : grad_lines) add(std::move(line));
}

// The fixture's AdamW settings (its "adamw" metadata), PyTorch's defaults where absent.
AdamWConfig fixture_adamw(const nlohmann::json& adam) {
  AdamWConfig opt;
  opt.beta1 = adam.value("betas", std::vector<double>{0.9, 0.95})[0];
  opt.beta2 = adam.value("betas", std::vector<double>{0.9, 0.95})[1];
  opt.eps = adam.value("eps", 1e-8);
  opt.weight_decay = adam.value("weight_decay", 0.1);
  opt.decay_all = adam.value("decay", std::string("matrices")) == "all";  // seq_icl's trainer (RegBench)
  return opt;
}

// 3. ten AdamW steps on the same batch, loss before each step.
void check_training(LanguageModel<float>& model, const safetensors::Reader& file, const FixtureBatch& b,
                    const AddLine& add) {
  const auto adam = nlohmann::json::parse(file.metadata_or("adamw", "{}"));
  const double lr = adam.value("lr", 1e-3);
  const auto ref_losses = file.read_f32("train.losses");
  auto& params = model.params();
  AdamW<float> optimizer(params, fixture_adamw(adam));
  std::vector<float> losses;
  for (size_t step = 0; step < ref_losses.size(); ++step) {
    losses.push_back(model.forward(b.idx.data(), b.targets.data(), b.B, b.T));
    params.zero_grad();
    model.backward(1.0f);
    optimizer.update(params, lr);
  }
  ParityLine train = compare("train.losses", losses.data(), ref_losses, kTrainLossTolerance);
  for (size_t i = 0; i < losses.size(); ++i)  // each loss relative to itself, not to the largest
    train.max_rel = std::max(train.max_rel, std::abs(double(losses[i]) - ref_losses[i]) / std::abs(double(ref_losses[i])));
  train.ok = train.max_rel <= kTrainLossTolerance;
  add(train);
}

// 4. greedy decoding from the initial weights (reloaded: training moved them).
void check_greedy(LanguageModel<float>& model, const safetensors::Reader& file, const AddLine& add) {
  load_parameters(file, model.params(), "param.");
  const auto expected = read_ids(file, "greedy.tokens");
  const auto tokens = greedy(model, read_ids(file, "greedy.prompt"), expected.size());
  ParityLine g{"greedy.tokens", 0, 0, 0, tokens == expected};
  for (size_t i = 0; i < expected.size(); ++i) g.max_abs += tokens[i] != expected[i];  // count of mismatches
  add(g);
}

}  // namespace

ParityReport check_reference_fixture(const std::string& path, const std::function<void(const ParityLine&)>& on_line) {
  const auto file = safetensors::Reader::open(path);
  require_fixture(file, path);
  ParityReport report;
  const AddLine add = [&](ParityLine line) {
    if (on_line) on_line(line);
    report.lines.push_back(std::move(line));
  };
  const ModelConfig config = read_model_config(file);
  report.arch = config.arch;
  report.config = config.to_json().dump();
  auto model = make_model<float>(config);
  load_parameters(file, model->params(), "param.");
  const FixtureBatch batch = read_batch(file, path);

  check_forward(*model, file, batch, add);
  check_gradients(*model, file, batch, add);
  check_training(*model, file, batch, add);
  check_greedy(*model, file, add);
  return report;
}

}  // namespace mosaic
