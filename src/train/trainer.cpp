// Training loop and its bookkeeping (metrics, evaluation, samples, checkpoints, signals).
#include "train/trainer.hpp"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "dist/communicator.hpp"
#include "dist/gradient_reducer.hpp"
#include "infer/generate.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "io/token_shards.hpp"
#include "kernels/dropout.hpp"
#include "kernels/gemm.hpp"
#include "kernels/threads.hpp"
#include "models/factory.hpp"
#include "models/init.hpp"
#include "text/gpt2_tokenizer.hpp"
#include "text/utf8_stream.hpp"
#include "train/batch_sampler.hpp"
#include "train/checkpoint.hpp"

namespace mosaic {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// Installs SIGINT/SIGTERM handlers for the lifetime of a run, restores the old ones after.
struct StopSignals {
  struct sigaction old_int {}, old_term {};
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

// A split's tokens: its shards (io/token_shards.hpp: split.bin, or llm.c's *_split_*.bin) in
// name order, one after another. Each shard starts with <|endoftext|>, so a window that
// crosses into the next one crosses a document boundary, as within a shard.
std::vector<uint16_t> load_split(const TrainConfig& c, const std::string& split) {
  MOSAIC_CHECK(fs::is_directory(c.data_dir), "data_dir " + c.data_dir + " does not exist",
               "prepare the corpus first: mosaic prepare TEXT -o " + c.data_dir);
  const auto paths = split_shard_paths(c.data_dir, split);
  MOSAIC_CHECK(!paths.empty(),
               "token shard " + (fs::path(c.data_dir) / (split + ".bin")).string() + " does not exist (nor any *_" + split +
                   "_*.bin)",
               "prepare the corpus first: mosaic prepare TEXT -o " + c.data_dir);
  std::vector<uint16_t> tokens;
  for (const auto& path : paths) {
    const auto shard = read_token_shard(path);
    check_tokens_fit(shard, c.model.vocab_size, path);
    tokens.insert(tokens.end(), shard.begin(), shard.end());
  }
  const std::string where = paths.size() == 1 ? paths[0] : std::to_string(paths.size()) + " " + split + " shards";
  MOSAIC_CHECK(tokens.size() > static_cast<size_t>(c.model.block_size) + 1,
               where + " hold" + (paths.size() == 1 ? "s " : " ") + std::to_string(tokens.size()) +
                   " tokens, fewer than one window of block_size " + std::to_string(c.model.block_size),
               "use a larger corpus or a smaller block_size");
  return tokens;
}

// Keeps the metrics lines of steps <= step (a resumed run rewrites what came after).
void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("step", int64_t{0}) <= step) kept += line + "\n";
  }
  write_file_atomically(path, std::as_bytes(std::span(kept.data(), kept.size())));
}

class Run {
 public:
  Run(TrainConfig c, bool resume, BatchSource* source, const std::function<void(const nlohmann::json&)>& on_record)
      : c_(std::move(c)), source_(source), on_record_(on_record) {
    setup(resume);
  }
  TrainResult loop();

 private:
  // setup's steps, in order
  void setup(bool resume);
  std::vector<int64_t> open_run_folder(bool resume);
  void share_config();
  void init_model();
  void start_optimizer();
  void start_gradient_reducer();
  void restore_streams();
  void open_outputs(bool resume);
  void print_start(bool resume) const;

  // loop's steps
  struct StepStats {
    double lr = 0, loss = 0, grad_norm = 0, ms = 0;
    double comm_ms = 0, exposed_ms = 0;  // time in allreduce; the part the backward pass did not hide
    int64_t tokens = 0;                  // of every rank's rows
    bool stop = false;                   // a stop signal reached this rank (or, data parallel, any rank)
  };
  StepStats train_step();
  void accumulate_gradients(StepStats& s);
  void average_over_ranks(StepStats& s);
  double clip_gradients(double loss);
  void log_step(const StepStats& s, double eta_seconds);
  double validate();
  size_t val_sequences() const;
  double evaluate();
  void print_sample();
  void checkpoint();
  void keep_if_best(double val_loss);
  Error diverged(const std::string& what) const;
  void log(const nlohmann::json& record);

  void share_start();
  const Batch& my_rows(const Batch& all);
  bool lead() const { return world_.rank() == 0; }

  TrainConfig c_;
  Communicator& world_ = Communicator::world();  // data parallel: ranks split each step's rows
  std::optional<GradientReducer> reducer_;       // and average their gradients
  bool last_micro_ = false;                      // the micro-step whose backward completes the gradients
  std::unique_ptr<LanguageModel<float>> model_;
  std::optional<AdamW<float>> optimizer_;
  std::optional<Gpt2Tokenizer> tokenizer_;
  BatchSource* source_;                    // the caller's, or own_source_
  std::unique_ptr<BatchSource> own_source_;  // token windows of data_dir
  TrainState state_;
  double best_val_ = INFINITY;             // keep_best: the validation loss of best.safetensors
  Rng data_rng_, sample_rng_;
  Batch batch_, rows_;  // a step's micro-batch of every rank; this rank's rows of it
  std::ofstream metrics_;
  const std::function<void(const nlohmann::json&)>& on_record_;
};

void Run::setup(bool resume) {
  MOSAIC_CHECK(Communicator::built_with_mpi() || !Communicator::launched_by_mpirun(),
               "this mosaic was built without MPI but was started by mpirun",
               "install libopenmpi-dev (scripts/setup.sh) and build again, or run it without mpirun");
  MOSAIC_CHECK(!world_.distributed() || !source_, "data-parallel training reads token shards only",
               "run this experiment without mpirun");
  std::vector<int64_t> existing;
  if (lead()) existing = open_run_folder(resume);  // the files of the run are rank 0's
  share_config();
  if (!model_) init_model();
  c_.validate();
  start_optimizer();
  if (resume && lead()) {
    load_train_state(checkpoint_state_path(c_.out_dir, existing.back()), state_, *optimizer_, model_->params());
    truncate_metrics((fs::path(c_.out_dir) / "metrics.jsonl").string(), state_.step);
  }
  share_start();
  if (world_.distributed()) start_gradient_reducer();
  if (resume) restore_streams();
  if (!source_) {  // every rank draws the whole step's windows from the same stream, then takes its rows
    own_source_ = std::make_unique<TokenWindows>(load_split(c_, "train"), load_split(c_, "val"),
                                                 c_.batch_size * world_.size(), c_.model.block_size, c_.eval_iters,
                                                 c_.seed + 3);
    source_ = own_source_.get();
  }
  if (!lead()) return;
  open_outputs(resume);
  print_start(resume);
}

// Rank 0: out_dir made and cleared of killed runs' temp files; its checkpoints, the newest one's
// model loaded on resume (its config wins). A fresh run must not find any.
std::vector<int64_t> Run::open_run_folder(bool resume) {
  std::error_code ec;
  fs::create_directories(c_.out_dir, ec);
  MOSAIC_CHECK(fs::is_directory(c_.out_dir), "cannot create out_dir " + c_.out_dir + (ec ? ": " + ec.message() : ": a file has that name"),
               "choose another --out_dir");
  if (const uint64_t freed = remove_stale_temp_files(c_.out_dir))
    std::fprintf(stderr, "train: removed %.1f MB of temp files left by killed runs\n", freed / 1e6);
  std::vector<int64_t> existing = list_checkpoints(c_.out_dir);
  if (resume) {
    MOSAIC_CHECK(!existing.empty(), "--resume: no checkpoint in " + c_.out_dir, "start without --resume");
    model_ = load_model(checkpoint_model_path(c_.out_dir, existing.back()));
    c_.model = model_->config();
  } else {
    MOSAIC_CHECK(existing.empty(), c_.out_dir + " already holds checkpoints (up to step " + std::to_string(existing.back()) + ")",
                 "continue it with --resume, or choose another --out_dir");
  }
  return existing;
}

// Data parallel: every rank runs rank 0's config (a resumed model's included).
void Run::share_config() {
  if (!world_.distributed()) return;
  std::string text = lead() ? c_.to_json().dump() : std::string();
  world_.broadcast(text);
  if (!lead()) c_.update_from_json(nlohmann::json::parse(text), "rank 0's config");
}

void Run::init_model() {
  model_ = make_model<float>(c_.model);
  Rng init_rng(c_.seed);
  init_parameters(model_->params(), c_.model, init_rng);
}

// AdamW, the activations for a whole batch, the data and sample streams from the seed.
void Run::start_optimizer() {
  optimizer_.emplace(model_->params(), AdamWConfig{c_.beta1, c_.beta2, 1e-8, c_.weight_decay, c_.decay_all_params});
  model_->reserve(c_.batch_size, c_.model.block_size);
  data_rng_.reseed(c_.seed + 1);
  sample_rng_.reseed(c_.seed + 2);
  state_.world_size = world_.size();
}

// Each block's gradients are averaged as soon as its backward pass of the last micro-step ends.
void Run::start_gradient_reducer() {
  auto& params = model_->params();
  reducer_.emplace(world_, params.grads(), params.arena_size(), c_.overlap_allreduce);
  if (reducer_->overlapping())
    model_->set_backward_hook([this](int l) {
      if (last_micro_) reducer_->ready(model_->block_params(l));
    });
}

// A resumed run continues the checkpoint's data and sample streams, with as many processes.
void Run::restore_streams() {
  MOSAIC_CHECK(state_.world_size == world_.size(),
               "the checkpoint at step " + std::to_string(state_.step) + " was trained by " +
                   std::to_string(state_.world_size) + " process" + (state_.world_size == 1 ? "" : "es") + ", this run has " +
                   std::to_string(world_.size()),
               "resume it with the same number of processes (mpirun -np " + std::to_string(state_.world_size) +
                   "): the global batch and the data stream depend on it");
  data_rng_.set_state(state_.data_rng);
  sample_rng_.set_state(state_.sample_rng);
}

// Rank 0: the best validation loss so far (keep_best), config.json, the metrics file, and the
// tokenizer when samples are asked for (none, with a warning, when it cannot be found).
void Run::open_outputs(bool resume) {
  const std::string best_path = (fs::path(c_.out_dir) / "best.safetensors").string();
  if (resume && c_.keep_best && fs::exists(best_path))
    best_val_ = std::stod(safetensors::Reader::open(best_path).metadata_or("val_loss", "inf"));
  const std::string config_text = c_.to_json().dump(2) + "\n";
  write_file_atomically((fs::path(c_.out_dir) / "config.json").string(), std::as_bytes(std::span(config_text)));
  metrics_.open(fs::path(c_.out_dir) / "metrics.jsonl", std::ios::app);
  if (c_.sample_interval > 0) {
    try {
      tokenizer_.emplace(Gpt2Tokenizer::load(Gpt2Tokenizer::default_dir()));
    } catch (const Error& e) {
      std::fprintf(stderr, "warning: no samples during training (%s)\n", e.what());
    }
  }
}

void Run::print_start(bool resume) const {
  const std::string ranks =
      world_.distributed() ? ", " + std::to_string(world_.size()) + " processes x batch " + std::to_string(c_.batch_size) : "";
  std::fprintf(stderr, "train: %s, %.2fM parameters, %.0f MB of activations, %s%s, %s step %lld of %lld\n",
               c_.model.arch.c_str(), model_->params().count() / 1e6, model_->activations().bytes() / 1e6,
               source_->describe().c_str(), ranks.c_str(),
               resume ? "resuming at" : "starting at", static_cast<long long>(state_.step),
               static_cast<long long>(c_.max_iters));
}

// Data parallel: rank 0's weights, AdamW moments and train state (loaded from its checkpoint,
// or initialised) to every rank, so that only rank 0 needs the run folder.
void Run::share_start() {
  if (!world_.distributed()) return;
  auto& params = model_->params();
  const size_t n = params.arena_size();
  world_.broadcast(params.values(), n * sizeof(float));
  world_.broadcast(optimizer_->first_moment().data(), n * sizeof(float));
  world_.broadcast(optimizer_->second_moment().data(), n * sizeof(float));
  int64_t adam_step = optimizer_->step();
  world_.broadcast(&adam_step, sizeof adam_step);
  optimizer_->set_step(adam_step);
  static_assert(std::is_trivially_copyable_v<TrainState>);
  world_.broadcast(&state_, sizeof state_);
}

// This rank's rows of a batch drawn for every rank: rows [r B, (r + 1) B) of N B.
const Batch& Run::my_rows(const Batch& all) {
  if (!world_.distributed()) return all;
  const int B = all.B / world_.size();
  const auto first = static_cast<std::ptrdiff_t>(world_.rank()) * B * all.T, count = static_cast<std::ptrdiff_t>(B) * all.T;
  rows_.B = B;
  rows_.T = all.T;
  rows_.idx.assign(all.idx.begin() + first, all.idx.begin() + first + count);
  rows_.targets.assign(all.targets.begin() + first, all.targets.begin() + first + count);
  return rows_;
}

void Run::log(const nlohmann::json& record) {
  metrics_ << record.dump() << "\n";
  metrics_.flush();
  if (on_record_) on_record_(record);
}

// Mean loss over the source's validation batches (the same batches every time); data
// parallel, each rank evaluates its rows of each.
double Run::evaluate() {
  const auto& batches = source_->val_set();
  double sum = 0;
  for (const Batch& all : batches) {
    const Batch& b = my_rows(all);
    sum += model_->evaluate(b.idx.data(), b.targets.data(), b.B, b.T);
  }
  world_.allreduce_sum(&sum, 1);
  return sum / static_cast<double>(batches.size() * world_.size());
}

// keep_best: the model of the lowest validation loss so far, beside the rolling checkpoints
// (RegBench tests the best validation checkpoint, as seq_icl does).
void Run::keep_if_best(double val_loss) {
  if (!c_.keep_best || !(val_loss < best_val_)) return;
  best_val_ = val_loss;
  char loss_text[32];
  std::snprintf(loss_text, sizeof loss_text, "%.9g", val_loss);
  save_model((fs::path(c_.out_dir) / "best.safetensors").string(), *model_,
             {{"step", std::to_string(state_.step)}, {"val_loss", loss_text}});
}

void Run::print_sample() {
  if (!tokenizer_) return;
  std::vector<int32_t> context = {tokenizer_->eot()};
  Sampler sampler({0.8, 40, 1.0});
  generate(*model_, context, c_.sample_tokens, tokenizer_->vocab_size(), sampler, sample_rng_, nullptr,
           tokenizer_->eot());  // a story ends at <|endoftext|>
  if (context.back() == tokenizer_->eot()) context.pop_back();
  Utf8Stream text;
  std::string story = text.feed(tokenizer_->decode(std::vector<int>(context.begin() + 1, context.end())));
  story += text.flush();
  std::fprintf(stderr, "---- sample at step %lld ----\n%s\n----\n", static_cast<long long>(state_.step), story.c_str());
}

// The error of a run that diverged at the current step: nothing of it is saved, and the hint
// names the checkpoint that really is the last good one.
Error Run::diverged(const std::string& what) const {
  const auto kept = list_checkpoints(c_.out_dir);
  return Error(what + " at step " + std::to_string(state_.step) + "; no checkpoint written",
               "lower learning_rate or raise warmup_iters; the last good checkpoint (" +
                   (kept.empty() ? std::string("none yet") : "step " + std::to_string(kept.back())) + ") is kept in " +
                   c_.out_dir);
}

static bool all_finite(const float* p, size_t n) {
  bool ok = true;
  for (size_t i = 0; i < n; ++i) ok &= std::isfinite(p[i]);
  return ok;
}

// Only finite weights and moments are saved: a diverged run never replaces a good checkpoint
// (and so pruning never removes the last good one).
void Run::checkpoint() {
  const auto& params = model_->params();
  const size_t n = params.arena_size();
  if (!all_finite(model_->params().values(), n)) throw diverged("non-finite weights");
  if (!all_finite(optimizer_->first_moment().data(), n) || !all_finite(optimizer_->second_moment().data(), n))
    throw diverged("non-finite AdamW moments");
  state_.data_rng = data_rng_.state();
  state_.sample_rng = sample_rng_.state();
  save_model(checkpoint_model_path(c_.out_dir, state_.step), *model_, {{"step", std::to_string(state_.step)}});
  save_train_state(checkpoint_state_path(c_.out_dir, state_.step), state_, *optimizer_, model_->params(), c_);
  prune_checkpoints(c_.out_dir, c_.keep_checkpoints);
}

// One optimizer step: the micro-batches' gradients (averaged over ranks), checked, clipped
// and applied.
Run::StepStats Run::train_step() {
  const auto t0 = std::chrono::steady_clock::now();
  StepStats s;
  s.lr = learning_rate_at(c_, state_.step);
  accumulate_gradients(s);
  s.stop = g_stop_signal != 0;
  if (world_.distributed()) average_over_ranks(s);
  s.grad_norm = clip_gradients(s.loss);
  optimizer_->update(model_->params(), s.lr);
  ++state_.step;
  state_.tokens_seen += s.tokens;
  s.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

// The step's micro-batches, forward and backward, their gradients summed (each scaled by
// 1 / gradient_accumulation_steps) and their mean loss in s.loss. Each pass's dropout key comes
// from the seed, the micro-step and the rank, so a resumed run draws the same masks.
void Run::accumulate_gradients(StepStats& s) {
  model_->params().zero_grad();
  for (int micro = 0; micro < c_.gradient_accumulation_steps; ++micro) {
    source_->train_batch(state_.step, micro, data_rng_, batch_);
    s.tokens += static_cast<int64_t>(batch_.B) * batch_.T;  // every rank's
    const Batch& b = my_rows(batch_);
    last_micro_ = micro + 1 == c_.gradient_accumulation_steps;
    const uint64_t pass = static_cast<uint64_t>(state_.step) * c_.gradient_accumulation_steps + micro;
    model_->set_dropout_key(mix64(c_.seed) ^ mix64(pass * world_.size() + world_.rank()));
    s.loss += model_->forward(b.idx.data(), b.targets.data(), b.B, b.T) / c_.gradient_accumulation_steps;
    model_->backward(1.0f / c_.gradient_accumulation_steps);
  }
}

// Data parallel: the mean gradient and loss of every rank's rows; the ranks stop together.
void Run::average_over_ranks(StepStats& s) {
  const double comm0 = world_.comm_seconds();
  s.exposed_ms = reducer_->finish() * 1000;
  double shared[2] = {s.loss, s.stop ? 1.0 : 0.0};
  world_.allreduce_sum(shared, 2);
  s.loss = shared[0] / world_.size();
  s.stop = shared[1] > 0;
  s.comm_ms = (world_.comm_seconds() - comm0) * 1000;
}

// The gradient's norm before clipping; a non-finite loss or gradient ends the run.
double Run::clip_gradients(double loss) {
  auto& params = model_->params();
  double norm2 = 0;
  const float* g = params.grads();
  for (size_t i = 0; i < params.arena_size(); ++i) norm2 += static_cast<double>(g[i]) * g[i];
  const double grad_norm = std::sqrt(norm2);
  if (!std::isfinite(loss) || !std::isfinite(grad_norm))
    throw diverged(std::isfinite(loss) ? "non-finite gradient" : "non-finite loss");
  if (c_.grad_clip > 0 && grad_norm > c_.grad_clip) {  // torch.nn.utils.clip_grad_norm_
    const float coef = static_cast<float>(c_.grad_clip / (grad_norm + 1e-6));
    float* gm = params.grads();
    for (size_t i = 0; i < params.arena_size(); ++i) gm[i] *= coef;
  }
  return grad_norm;
}

// The step's line on stderr and its record in metrics.jsonl.
void Run::log_step(const StepStats& s, double eta_seconds) {
  const double tok_s = s.tokens / (s.ms / 1000);
  char comm[64] = "";
  if (world_.distributed())
    std::snprintf(comm, sizeof comm, " (allreduce %.1f ms, %.1f ms not hidden)", s.comm_ms, s.exposed_ms);
  std::fprintf(stderr, "step %6lld/%lld | loss %.4f | lr %.2e | norm %.3f | %.0f ms%s | %.0f tok/s | ETA %s\n",
               static_cast<long long>(state_.step), static_cast<long long>(c_.max_iters), s.loss, s.lr, s.grad_norm, s.ms,
               comm, tok_s, format_duration(eta_seconds).c_str());
  nlohmann::json record = {{"step", state_.step}, {"split", "train"}, {"loss", s.loss}, {"lr", s.lr},
                           {"grad_norm", s.grad_norm}, {"ms", s.ms}, {"tok_s", tok_s}};
  if (world_.distributed()) {
    record["comm_ms"] = s.comm_ms;
    record["comm_exposed_ms"] = s.exposed_ms;
  }
  log(record);
}

// The sequences of the validation estimate: a sample of the val split (the same each time);
// `mosaic eval` scores the whole split.
size_t Run::val_sequences() const {
  size_t n = 0;
  for (const Batch& b : source_->val_set()) n += static_cast<size_t>(b.B);
  return n;
}

// The validation loss, printed, logged and (keep_best) kept by rank 0; non-finite ends the run.
double Run::validate() {
  const double loss = evaluate();
  if (!std::isfinite(loss)) throw diverged("non-finite validation loss");
  if (lead()) {
    std::fprintf(stderr, "step %6lld | val loss %.4f (estimate on %zu val sequences)\n",
                 static_cast<long long>(state_.step), loss, val_sequences());
    log({{"step", state_.step}, {"split", "val"}, {"loss", loss}, {"tokens", state_.tokens_seen}});
    keep_if_best(loss);
  }
  return loss;
}

TrainResult Run::loop() {
  StopSignals signals;
  TrainResult result;
  result.last_val_loss = NAN;
  const int64_t first_step = state_.step;
  double total_ms = 0;
  while (state_.step < c_.max_iters) {
    const StepStats s = train_step();
    ++result.steps_run;
    total_ms += s.ms;
    result.last_train_loss = s.loss;
    const bool last = state_.step == c_.max_iters;
    if (lead() && (state_.step % c_.log_interval == 0 || last || state_.step == first_step + 1))
      log_step(s, (c_.max_iters - state_.step) * total_ms / (state_.step - first_step) / 1000);
    if ((c_.eval_interval > 0 && state_.step % c_.eval_interval == 0) || last) result.last_val_loss = validate();
    if (!lead()) {
      if (s.stop) break;
      continue;
    }
    if (c_.sample_interval > 0 && (state_.step % c_.sample_interval == 0 || last)) print_sample();
    if ((c_.checkpoint_interval > 0 && state_.step % c_.checkpoint_interval == 0) || last || s.stop) checkpoint();
    if (s.stop) {
      std::fprintf(stderr, "stopped by signal %d at step %lld; checkpoint written, continue with --resume\n",
                   g_stop_signal.load(), static_cast<long long>(state_.step));
      result.interrupted = true;
      break;
    }
  }
  result.steps = state_.step;
  return result;
}

}  // namespace

TrainResult train(TrainConfig config, bool resume, BatchSource* source,
                  const std::function<void(const nlohmann::json&)>& on_record) {
  set_threads(config.threads);
  Run run(std::move(config), resume, source, on_record);
  return run.loop();
}

}  // namespace mosaic
