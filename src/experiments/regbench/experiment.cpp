// RegBench grid: data splits from the seed, one trainer run per point, test scores, results.
#include "experiments/regbench/experiment.hpp"
#include "experiments/regbench/ngram.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/model_io.hpp"
#include "kernels/dropout.hpp"
#include "experiments/regbench/metrics.hpp"
#include "models/language_model.hpp"
#include "train/trainer.hpp"

namespace mosaic::regbench {

namespace fs = std::filesystem;

// Salts of the data splits: the test set is the same for every N and config.
constexpr uint64_t kTrainSalt = 1, kValSalt = 2, kTestSalt = 3, kIidValSalt = 4, kIidTestSalt = 5, kRelabelSalt = 6;

Protocol Protocol::paper() {
  Protocol p;
  p.sizes = {100, 500, 1000};
  p.epochs = 200;  // seq_icl's: 800 steps at N = 100, 6,400 at N = 1000
  p.val_tasks = 500;
  p.test_tasks = 500;
  p.evaluations = 50;
  return p;
}

Protocol Protocol::full() {
  Protocol p = paper();
  p.sizes = {100, 500, 1000, 2500, 40000};
  return p;
}

Protocol Protocol::quick() {
  Protocol p;
  p.sizes = {100, 500, 1000};
  p.steps = 500;  // 16,000 sequences per point: 160 epochs at N = 100, 16 at N = 1000
  p.val_tasks = 200;
  p.test_tasks = 500;
  p.evaluations = 10;
  return p;
}

TaskBatches::TaskBatches(std::vector<Task> train, std::vector<Task> val, int B, int accumulation, uint64_t seed,
                         bool relabel, bool epoch_batches)
    : train_(std::move(train)), B_(B), accumulation_(accumulation), seed_(seed), relabel_(relabel),
      epoch_batches_(epoch_batches) {
  MOSAIC_CHECK(!train_.empty() && !val.empty(), "regbench: empty training or validation split", "use N >= 1");
  const int64_t last = static_cast<int64_t>(train_.size()) % (static_cast<int64_t>(B_) * accumulation_);
  MOSAIC_CHECK(!epoch_batches_ || last == 0 || last >= accumulation_,
               "regbench: with --epoch-batches each epoch's last step holds " + std::to_string(last) +
                   " sequences, fewer than its " + std::to_string(accumulation_) + " micro-batches",
               "pick N so that N mod (batch_size x gradient_accumulation_steps) is 0 or at least the accumulation");
  for (size_t i = 0; i < val.size(); i += B_) {
    std::vector<const Task*> group;
    for (size_t j = i; j < std::min(val.size(), i + B_); ++j) group.push_back(&val[j]);
    pad_batch(group, val_.emplace_back());
  }
}

void TaskBatches::pad_batch(const std::vector<const Task*>& tasks, Batch& out) {
  int T = 0;
  for (const Task* t : tasks) T = std::max(T, static_cast<int>(t->tokens.size()) - 1);
  out.B = static_cast<int>(tasks.size());
  out.T = T;
  out.idx.assign(static_cast<size_t>(out.B) * T, kPad);
  out.targets.assign(out.idx.size(), kIgnore);
  for (int b = 0; b < out.B; ++b) {
    const Example e = make_example(tasks[b]->tokens, T);
    std::copy(e.inputs.begin(), e.inputs.end(), out.idx.begin() + static_cast<int64_t>(b) * T);
    std::copy(e.targets.begin(), e.targets.end(), out.targets.begin() + static_cast<int64_t>(b) * T);
  }
}

const std::vector<int>& TaskBatches::permutation(int64_t epoch) {
  if (epoch != cached_epoch_) {
    perm_.resize(train_.size());
    for (size_t i = 0; i < perm_.size(); ++i) perm_[i] = static_cast<int>(i);
    Rng rng(mix64(seed_ ^ mix64(static_cast<uint64_t>(epoch) + 1)));
    for (size_t i = perm_.size(); i > 1; --i) std::swap(perm_[i - 1], perm_[rng.below(i)]);  // Fisher-Yates
    cached_epoch_ = epoch;
  }
  return perm_;
}

void TaskBatches::train_batch(int64_t step, int micro, Rng&, Batch& out) {
  const int64_t N = static_cast<int64_t>(train_.size()), per_step = static_cast<int64_t>(B_) * accumulation_;
  int64_t first = (step * accumulation_ + micro) * B_, count = B_;  // draws before this micro-batch, its draws
  if (epoch_batches_) {
    const int64_t steps_per_epoch = (N + per_step - 1) / per_step, epoch = step / steps_per_epoch;
    const int64_t begin = step % steps_per_epoch * per_step, in_step = std::min(per_step, N - begin);
    const int64_t lo = begin + micro * in_step / accumulation_, hi = begin + (micro + 1) * in_step / accumulation_;
    first = epoch * N + lo;
    count = hi - lo;
  }
  std::vector<const Task*> group;
  for (int64_t k = first; k < first + count; ++k) group.push_back(&train_[permutation(k / N)[k % N]]);
  pad_batch(group, out);
  if (!relabel_) return;
  for (int b = 0; b < out.B; ++b) {  // letters 1..kLetters renamed; padding and '|' stay
    int32_t rename[kVocab];
    for (int t = 0; t < kVocab; ++t) rename[t] = t;
    Rng rng(mix64(seed_ ^ kRelabelSalt ^ mix64(static_cast<uint64_t>(first + b) + 1)));
    for (int i = kLetters; i > 1; --i) std::swap(rename[i], rename[1 + rng.below(i)]);  // Fisher-Yates on 1..kLetters
    const int64_t row = static_cast<int64_t>(b) * out.T;
    for (int64_t j = row; j < row + out.T; ++j) {
      out.idx[j] = rename[out.idx[j]];
      if (out.targets[j] >= 0) out.targets[j] = rename[out.targets[j]];
    }
  }
}

std::string TaskBatches::describe() const {
  int64_t tokens = 0;
  for (const Task& t : train_) tokens += static_cast<int64_t>(t.tokens.size());
  return std::to_string(train_.size()) + " training sequences (" + std::to_string(tokens) + " tokens), " +
         std::to_string(val_.size()) + " validation batches";
}

TestScores score_model(const std::string& model_path, const std::vector<Task>& tasks) {
  auto model = load_model(model_path);
  MOSAIC_CHECK(model->config().vocab_size >= kVocab,
               model_path + " has a vocabulary of " + std::to_string(model->config().vocab_size) + " tokens",
               "RegBench models need at least 20 (configs/regbench_*.json)");
  const int V = model->config().vocab_size;
  Scores scores;
  std::vector<float> probs;
  for (const Task& task : tasks) {
    const int T = static_cast<int>(task.tokens.size()) - 1;
    model->forward(task.tokens.data(), nullptr, 1, T);
    const float* logits = model->logits();
    probs.assign(static_cast<size_t>(T) * kVocab, 0.0f);
    for (int t = 0; t < T; ++t) {  // softmax over the model's whole vocabulary, read on the 20 tokens
      const float* z = logits + static_cast<int64_t>(t) * V;
      const float mx = *std::max_element(z, z + V);
      double sum = 0;
      for (int v = 0; v < V; ++v) sum += std::exp(static_cast<double>(z[v] - mx));
      for (int v = 0; v < kVocab; ++v) probs[static_cast<size_t>(t) * kVocab + v] = static_cast<float>(std::exp(static_cast<double>(z[v] - mx)) / sum);
    }
    scores.add(task, probs.data());
  }
  return {scores.accuracy(), scores.l1(), scores.tvd(), scores.legal_mass(), scores.positions};
}

TestScores score_ngram(int n, const std::vector<Task>& tasks) {
  Scores scores;
  for (const Task& task : tasks) scores.add(task, ngram_probs(task, n).data());
  return {scores.accuracy(), scores.l1(), scores.tvd(), scores.legal_mass(), scores.positions};
}

nlohmann::json to_json(const PointResult& r) {
  return {{"name", r.name},         {"model", r.model},     {"train_seed", r.train_seed}, {"arch", r.arch},           {"variant", r.variant},     {"n", r.n},
          {"accuracy", r.accuracy}, {"l1", r.l1},           {"tvd", r.tvd},             {"legal_mass", r.legal_mass},
          {"positions", r.positions},
          {"best_val_loss", r.best_val_loss}, {"best_step", r.best_step}, {"steps", r.steps},
          {"epochs", r.epochs},     {"params", r.params},   {"train_seconds", r.train_seconds}};
}

namespace {

PointResult point_from_json(const nlohmann::json& j) {
  PointResult r;
  r.name = j.at("name");
  r.arch = j.at("arch");
  r.model = j.value("model", r.arch);  // results written before models were named by their config
  r.train_seed = j.value("train_seed", uint64_t{0});
  r.variant = j.at("variant");
  r.n = j.at("n");
  r.accuracy = j.at("accuracy");
  r.l1 = j.at("l1");
  r.tvd = j.at("tvd");
  r.legal_mass = j.value("legal_mass", 0.0);
  r.positions = j.at("positions");
  r.best_val_loss = j.at("best_val_loss");
  r.best_step = j.at("best_step");
  r.steps = j.at("steps");
  r.epochs = j.at("epochs");
  r.params = j.at("params");
  r.train_seconds = j.at("train_seconds");
  return r;
}

void write_text(const std::string& path, const std::string& text) {
  write_file_atomically(path, std::as_bytes(std::span(text.data(), text.size())));
}

void write_results(const Options& o, const std::vector<PointResult>& points) {
  fs::create_directories(o.out_dir);
  nlohmann::json all = nlohmann::json::array();
  std::string csv = "name,model,arch,variant,n,accuracy,tvd,l1,legal_mass,positions,best_val_loss,best_step,steps,epochs,params,train_seconds\n";
  char line[256];
  for (const auto& r : points) {
    all.push_back(to_json(r));
    std::snprintf(line, sizeof line, "%s,%s,%s,%s,%d,%.4f,%.4f,%.4f,%.4f,%lld,%.4f,%lld,%lld,%.1f,%lld,%.0f\n", r.name.c_str(),
                  r.model.c_str(), r.arch.c_str(), r.variant.c_str(), r.n, r.accuracy, r.tvd, r.l1, r.legal_mass, static_cast<long long>(r.positions),
                  r.best_val_loss, static_cast<long long>(r.best_step), static_cast<long long>(r.steps), r.epochs,
                  static_cast<long long>(r.params), r.train_seconds);
    csv += line;
  }
  const Protocol& p = o.protocol;
  // Each config's content, not its path: the results file says what ran on any machine.
  nlohmann::json configs = nlohmann::json::array();
  for (const std::string& file : o.configs)
    configs.push_back({{"file", fs::path(file).filename().string()}, {"config", read_json_file(file)}});
  nlohmann::json doc = {{"protocol",
                         {{"sizes", p.sizes}, {"iid", p.iid}, {"epochs", p.epochs}, {"steps", p.steps}, {"seeds", p.seeds},
                          {"val_tasks", p.val_tasks}, {"test_tasks", p.test_tasks}, {"seed", p.seed},
                          {"relabel", p.relabel}, {"epoch_batches", p.epoch_batches}}},
                        {"configs", configs},
                        {"points", all}};
  write_text((fs::path(o.out_dir) / "results.json").string(), doc.dump(1) + "\n");
  write_text((fs::path(o.out_dir) / "results.csv").string(), csv);
}

// n copies of one sequence per automaton (fresh draws), in automaton order: the IID splits.
std::vector<Task> iid_tasks(const std::vector<Task>& train, int count, uint64_t seed) {
  std::vector<Dfa> automata;
  for (const Task& t : train) automata.push_back(t.dfa);
  std::vector<Task> out;
  for (uint64_t round = 0; static_cast<int>(out.size()) < count; ++round)
    for (Task& t : sample_tasks_from(automata, mix64(seed + round)))
      if (static_cast<int>(out.size()) < count) out.push_back(std::move(t));
  return out;
}

struct Point {
  TrainConfig config;
  std::string model, name, variant;
  int n = 0;
};

// regbench_mosaic_v2.json -> mosaic_v2: two configs of one arch get their own run folders.
std::string model_name(const std::string& config_file) {
  std::string stem = fs::path(config_file).stem().string();
  if (stem.rfind("regbench_", 0) == 0) stem = stem.substr(9);
  return stem;
}

void check_protocol(const Options& o) {
  const Protocol& p = o.protocol;
  MOSAIC_CHECK(!p.sizes.empty() && (!o.configs.empty() || !p.ngram_orders.empty()), "regbench: nothing to run",
               "give --sizes and --config");
  for (int n : p.sizes)
    MOSAIC_CHECK(n >= 1 && n <= 1000000, "regbench: training-set size " + std::to_string(n) + " is out of range",
                 "the paper uses 100 .. 40000 automata");
  MOSAIC_CHECK(p.seeds >= 1 && p.seeds <= 100, "regbench: " + std::to_string(p.seeds) + " seeds",
               "give --seeds from 1 to 100");
  MOSAIC_CHECK(p.val_tasks >= 1 && p.test_tasks >= 1 && p.evaluations >= 1 && (p.epochs > 0 || p.steps > 0),
               "regbench: the protocol needs validation and test tasks, evaluations and a length",
               "e.g. --val-tasks 200 --test-tasks 500 and --epochs 200 or --steps 500");
}

// The grid, in the order it runs: every config at each N, its extra training seeds at the
// smallest N, then the IID variant.
std::vector<Point> make_grid(const Options& o) {
  const Protocol& p = o.protocol;
  std::vector<Point> grid;
  for (const std::string& file : o.configs) {
    TrainConfig base;
    base.update_from_json(read_json_file(file), file);
    base.model.validate();
    MOSAIC_CHECK(base.model.vocab_size >= kVocab && base.model.block_size >= kMaxPositions,
                 file + ": RegBench needs vocab_size >= 20 and block_size >= " + std::to_string(kMaxPositions),
                 "start from configs/regbench_mosaic.json");
    const std::string model =
        model_name(file) + (p.relabel ? "_relabel" : "") + (p.epoch_batches ? "_epochbatch" : "");
    for (const Point& other : grid)
      MOSAIC_CHECK(other.model != model, "regbench: two configs named " + model,
                   "give each config its own file name: the name picks the run folders");
    for (int n : p.sizes) grid.push_back({base, model, model + "_N" + std::to_string(n), "ood", n});
    for (int k = 1; k < p.seeds; ++k) {
      TrainConfig seeded = base;
      seeded.seed = base.seed + static_cast<uint64_t>(k);
      const int n = p.sizes.front();
      grid.push_back({seeded, model, model + "_N" + std::to_string(n) + "_seed" + std::to_string(k + 1), "ood", n});
    }
    if (p.iid) grid.push_back({base, model, model + "_N" + std::to_string(p.sizes.front()) + "_iid", "iid", p.sizes.front()});
  }
  return grid;
}

struct Splits {
  std::vector<Task> train, val, test;
};

// Task i depends only on (seed, i): every N trains on a prefix of the same training list, and
// validation and test automata are drawn apart from the training ones.
Splits draw_splits(const Protocol& p) {
  const int max_n = *std::max_element(p.sizes.begin(), p.sizes.end());
  std::fprintf(stderr, "regbench: drawing %d training, %d validation and %d test automata\n", max_n, p.val_tasks,
               p.test_tasks);
  Splits s;
  s.train = make_tasks(mix64(p.seed + kTrainSalt), max_n);
  std::vector<Dfa> train_automata;
  for (const Task& t : s.train) train_automata.push_back(t.dfa);
  s.val = make_tasks(mix64(p.seed + kValSalt), p.val_tasks, train_automata);
  s.test = make_tasks(mix64(p.seed + kTestSalt), p.test_tasks, train_automata);
  return s;
}

// One point's splits: the first N training tasks; the shared validation and test tasks, or
// for the IID variant (table 4) fresh sequences of the training automata.
Splits point_splits(const Splits& all, const Protocol& p, const Point& pt) {
  Splits s{{all.train.begin(), all.train.begin() + pt.n}, all.val, all.test};
  if (pt.variant == "iid") {
    s.val = iid_tasks(s.train, p.val_tasks, mix64(p.seed + kIidValSalt));
    s.test = iid_tasks(s.train, p.test_tasks, mix64(p.seed + kIidTestSalt));
  }
  return s;
}

int64_t steps_per_epoch(const Point& pt) {
  const int64_t per_step = static_cast<int64_t>(pt.config.batch_size) * pt.config.gradient_accumulation_steps;
  return (pt.n + per_step - 1) / per_step;
}

int64_t steps_of(const Protocol& p, const Point& pt) {
  return p.steps > 0 ? p.steps : steps_per_epoch(pt) * p.epochs;
}

// Passes over the N training sequences: whole steps per epoch with epoch_batches, else draws / N.
double epochs_of(const Protocol& p, const Point& pt, int64_t steps) {
  if (p.epoch_batches) return static_cast<double>(steps) / steps_per_epoch(pt);
  return static_cast<double>(steps) * pt.config.batch_size * pt.config.gradient_accumulation_steps / pt.n;
}

// Steps and seconds of the points trained so far, for the grid's ETA.
struct GridClock {
  int64_t steps_total = 0, steps_done = 0;
  double seconds_done = 0;
  std::string eta_note() const {
    if (steps_done <= 0) return "";
    return ", grid ETA " + format_duration(seconds_done / steps_done * (steps_total - steps_done), DurationFormat::hms);
  }
};

struct PointFiles {
  std::string dir, result, best;
  PointFiles(const Options& o, const Point& pt)
      : dir((fs::path(o.runs_dir) / pt.name).string()),
        result((fs::path(dir) / "result.json").string()),
        best((fs::path(dir) / "best.safetensors").string()) {}
};

void set_scores(PointResult& r, const TestScores& s) {
  r.accuracy = s.accuracy;
  r.l1 = s.l1;
  r.tvd = s.tvd;
  r.legal_mass = s.legal_mass;
  r.positions = s.positions;
}

// A point whose result.json exists: read back, or scored again from its best checkpoint.
PointResult finished_point(const Options& o, const PointFiles& files, const std::vector<Task>& test) {
  PointResult r = point_from_json(read_json_file(files.result));
  if (o.rescore) {
    set_scores(r, score_model(files.best, test));
    write_text(files.result, to_json(r).dump(1) + "\n");
  }
  return r;
}

// The trainer's config for one point: the schedule scaled to its length, the best validation
// checkpoint kept, no text samples.
TrainConfig point_config(const Options& o, const Point& pt, const PointFiles& files, int64_t steps) {
  TrainConfig c = pt.config;
  c.out_dir = files.dir;
  c.max_iters = steps;
  c.warmup_iters = std::max<int64_t>(1, steps / 10);  // seq_icl: 10% of the run
  c.lr_decay_iters = steps;
  c.eval_interval = std::max<int64_t>(1, steps / o.protocol.evaluations);
  c.checkpoint_interval = c.eval_interval;
  c.log_interval = std::max<int64_t>(1, steps / 40);
  c.sample_interval = 0;
  c.keep_best = true;
  c.threads = o.threads;
  return c;
}

// Trains one point (resuming its run folder), scores its best checkpoint on the test tasks and
// writes its result.json.
PointResult train_point(const Options& o, const Point& pt, const PointFiles& files, Splits data, int64_t steps,
                        GridClock& clock) {
  const TrainConfig c = point_config(o, pt, files, steps);
  TaskBatches source(std::move(data.train), std::move(data.val), c.batch_size, c.gradient_accumulation_steps,
                     mix64(o.protocol.seed ^ c.seed), o.protocol.relabel, o.protocol.epoch_batches);
  const bool resume = !list_checkpoints(files.dir).empty();
  const auto t0 = std::chrono::steady_clock::now();
  const TrainResult tr = mosaic::train(c, resume, &source);
  if (tr.interrupted) throw Error("regbench: stopped by a signal during " + pt.name, "run the same command again to continue");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  clock.steps_done += steps;
  clock.seconds_done += seconds;

  PointResult r;
  r.name = pt.name;
  r.model = pt.model;
  r.arch = pt.config.model.arch;
  r.train_seed = pt.config.seed;
  r.variant = pt.variant;
  r.n = pt.n;
  set_scores(r, score_model(files.best, data.test));
  auto best_file = safetensors::Reader::open(files.best);
  r.best_val_loss = std::stod(best_file.metadata_or("val_loss", "nan"));
  r.best_step = std::stoll(best_file.metadata_or("step", "0"));
  r.steps = steps;
  r.epochs = epochs_of(o.protocol, pt, steps);
  r.params = static_cast<int64_t>(load_model(files.best)->params().count());
  r.train_seconds = seconds;
  write_text(files.result, to_json(r).dump(1) + "\n");
  return r;
}

}  // namespace

std::vector<PointResult> run(const Options& o) {
  const Protocol& p = o.protocol;
  check_protocol(o);
  const std::vector<Point> grid = make_grid(o);
  const Splits splits = draw_splits(p);
  GridClock clock;
  for (const Point& pt : grid) clock.steps_total += steps_of(p, pt);

  std::vector<PointResult> results;
  for (size_t k = 0; k < grid.size(); ++k) {
    const Point& pt = grid[k];
    const PointFiles files(o, pt);
    const int64_t steps = steps_of(p, pt);
    Splits data = point_splits(splits, p, pt);
    if (fs::exists(files.result)) {
      clock.steps_total -= steps;
      const PointResult& r = results.emplace_back(finished_point(o, files, data.test));
      std::fprintf(stderr, "regbench: [%zu/%zu] %s %s: accuracy %.3f, TVD %.3f, mass on legal letters %.3f\n", k + 1,
                   grid.size(), pt.name.c_str(), o.rescore ? "scored again" : "done before", r.accuracy, r.tvd,
                   r.legal_mass);
      continue;
    }
    std::fprintf(stderr, "regbench: [%zu/%zu] %s: %d automata, %lld steps (%.1f epochs)%s\n", k + 1, grid.size(),
                 pt.name.c_str(), pt.n, static_cast<long long>(steps), epochs_of(o.protocol, pt, steps), clock.eta_note().c_str());
    const PointResult& r = results.emplace_back(train_point(o, pt, files, std::move(data), steps, clock));
    std::fprintf(stderr, "regbench: %s: accuracy %.3f, TVD %.3f (L1 %.3f), mass on legal letters %.3f, best validation loss %.4f at step %lld\n",
                 pt.name.c_str(), r.accuracy, r.tvd, r.l1, r.legal_mass, r.best_val_loss, static_cast<long long>(r.best_step));
    write_results(o, results);
  }
  for (int n : p.ngram_orders) {  // seconds: no training, the OOD test tasks of every point
    PointResult r;
    r.model = r.name = "ngram" + std::to_string(n);
    r.arch = "ngram";
    r.variant = "ood";
    set_scores(r, score_ngram(n, splits.test));
    std::fprintf(stderr, "regbench: in-context %d-gram counter: accuracy %.3f, TVD %.3f, mass on legal letters %.3f\n", n,
                 r.accuracy, r.tvd, r.legal_mass);
    results.push_back(r);
  }
  write_results(o, results);
  return results;
}

}  // namespace mosaic::regbench
