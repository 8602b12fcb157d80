// The worker's loop: admit, drop the cancelled and timed out, feed prompts a chunk at a time,
// then one decoding step for every ready choice (project together, sample each, feed back on
// the threads). Each choice's state is what StreamingSample keeps (stream, generator, history,
// last features), so its tokens are those of `mosaic sample` with the same seed and flags.
#include "serve/engine.hpp"

#include <algorithm>
#include <cstdio>

#include "core/error.hpp"
#include "infer/generate.hpp"
#include "kernels/threads.hpp"
#include "serve/request.hpp"
#include "text/stop_text.hpp"
#include "text/utf8_stream.hpp"

namespace mosaic::serve {

namespace {

void add_seconds(std::atomic<double>& total, Clock::time_point since) {
  total.fetch_add(std::chrono::duration<double>(Clock::now() - since).count());
}

}  // namespace

void Job::push(ChoiceEvent e) {
  {
    std::lock_guard lock(mutex_);
    if (!e.finish.empty()) ++finished_;
    events_.push_back(std::move(e));
  }
  ready_.notify_all();
}

bool Job::take_events(std::vector<ChoiceEvent>& out, std::chrono::milliseconds wait, bool until_done) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, wait, [&] { return until_done ? finished_ == choices() : !events_.empty(); });
  while (!events_.empty()) {
    out.push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return finished_ == choices();
}

// One choice in flight: StreamingSample's state, plus its text on the way out.
struct Engine::Choice {
  std::shared_ptr<Job> job;
  int index = 0;
  TokenStream* stream = nullptr;
  std::unique_ptr<TokenStream> pooled;  // a stream of the pool (none for a session's)
  Sampler sampler;
  Rng own_rng;
  Rng* rng = &own_rng;                  // a session's generator, or own_rng
  std::vector<int32_t> own_history;
  std::vector<int32_t>* history = &own_history;
  std::vector<int32_t> prompt;
  size_t fed = 0;
  std::vector<float> features;          // (C) of the last token fed, once ready
  bool ready = false, done = false;
  int drawn = 0;
  Utf8Stream utf8;
  StopText stop;

  Choice(std::shared_ptr<Job> j, int k)
      : job(std::move(j)), index(k), sampler(job->sampler), own_rng(job->seed + static_cast<uint64_t>(k)),
        prompt(job->prompts[k]), stop(job->stops) {}
};

Engine::Engine(const LanguageModel<float>& model, const Gpt2Tokenizer& tokenizer, EngineOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      options_(options),
      head_(model.embedding_weight(), model.config().vocab_size, model.config().n_embd, options.stream.head,
            options.stream.threads) {
  options_.stream.head = HeadPrecision::Fp32;  // the streams' own heads are never used: no bf16 copy each
  worker_ = std::thread([this] { run(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    accepting_ = false;
  }
  wake_.notify_all();
  worker_.join();
}

void Engine::submit(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard lock(mutex_);
    if (!accepting_) fail(503, "the server is shutting down", "shutting_down", "server_error");
    if (static_cast<int>(queue_.size()) >= options_.max_queue)
      fail(503, "the queue is full (" + std::to_string(options_.max_queue) + " requests waiting): try again shortly",
           "queue_full", "server_error");
    std::erase_if(jobs_, [](const std::weak_ptr<Job>& j) { return j.expired(); });
    jobs_.push_back(job);
    queue_.emplace_back(job, 0);
    metrics_.queued = static_cast<int>(queue_.size());
  }
  wake_.notify_all();
}

void Engine::stop_accepting() {
  std::lock_guard lock(mutex_);
  accepting_ = false;
}

void Engine::cancel_all() {
  std::lock_guard lock(mutex_);
  for (const auto& weak : jobs_)
    if (auto j = weak.lock()) j->cancelled = true;
}

bool Engine::idle() {
  std::lock_guard lock(mutex_);
  return queue_.empty() && active_count_ == 0;
}

// Choices join while there are free slots, in the order their requests came.
void Engine::admit_locked(std::vector<std::unique_ptr<Choice>>& active) {
  while (static_cast<int>(active.size()) < options_.parallel && !queue_.empty()) {
    auto& [job, k] = queue_.front();
    auto c = std::make_unique<Choice>(job, k);
    if (job->session) {
      Session& s = *job->session;
      c->stream = s.stream.get();
      if (job->fresh_session) c->stream->reset();
      if (job->reseed) s.rng.reseed(job->seed);
      c->rng = &s.rng;
      c->history = &s.history;
    } else {
      if (free_streams_.empty()) {
        c->pooled = make_stream(model_, options_.stream);
      } else {
        c->pooled = std::move(free_streams_.back());
        free_streams_.pop_back();
      }
      c->stream = c->pooled.get();
      c->stream->reset();
    }
    c->history->insert(c->history->end(), c->prompt.begin(), c->prompt.end());
    if (c->prompt.empty() && c->stream->position() == 0) c->prompt = {tokenizer_.eot()};  // nothing to go on from
    job->prompt_tokens += static_cast<int64_t>(c->prompt.size());
    active.push_back(std::move(c));
    ++active_count_;
    if (++k == job->choices()) queue_.pop_front();
  }
  metrics_.queued = static_cast<int>(queue_.size());
  metrics_.busy_slots = static_cast<int>(active.size());
}

void Engine::finish(Choice& c, const std::string& reason) {
  if (reason == "cancelled") metrics_.cancelled += 1;
  if (reason == "time_limit") metrics_.timed_out += 1;
  ChoiceEvent e{c.index, {}, {}, reason};
  if (!c.stop.stopped()) e.text = c.stop.feed(c.utf8.flush()) + c.stop.flush();
  c.done = true;
  if (c.pooled) free_streams_.push_back(std::move(c.pooled));
  // The session goes back before the last event: a client that reads it may use the session at once.
  if (++c.job->finished_choices == c.job->choices()) {
    if (c.job->session) c.job->session_tokens = c.stream->position();
    if (c.job->on_finished) c.job->on_finished();
  }
  c.job->push(std::move(e));
}

// A chunk of each waiting prompt (kPromptChunk tokens: Continuation::feed's chunks, so the same
// state); a choice is ready once its whole prompt is in.
void Engine::prefill(std::vector<std::unique_ptr<Choice>>& active) {
  const int C = model_.config().n_embd;
  for (auto& c : active) {
    if (c->ready || c->done) continue;
    const auto t0 = Clock::now();
    const float* f = nullptr;
    if (c->prompt.empty()) {  // a session going on from where its last request stopped
      f = c->stream->state().features();
    } else {
      const size_t n = std::min<size_t>(kPromptChunk, c->prompt.size() - c->fed);
      f = c->stream->advance(c->prompt.data() + c->fed, static_cast<int>(n));
      c->fed += n;
      metrics_.prompt_tokens += static_cast<int64_t>(n);
    }
    if (c->prompt.empty() || c->fed == c->prompt.size()) {
      c->features.assign(f, f + C);
      c->ready = true;
    }
    add_seconds(metrics_.prompt_seconds, t0);
  }
}

// One token for every ready choice.
void Engine::decode(std::vector<std::unique_ptr<Choice>>& active) {
  const int C = model_.config().n_embd, V = model_.config().vocab_size;
  const int limit = std::min(V, tokenizer_.vocab_size());
  std::vector<Choice*> ready;
  for (auto& c : active) {
    if (!c->ready || c->done) continue;
    if (c->drawn >= c->job->max_tokens)
      finish(*c, "length");
    else
      ready.push_back(c.get());
  }
  if (ready.empty()) return;
  const auto t0 = Clock::now();
  const int m = static_cast<int>(ready.size());
  // Kept between steps: (m, V) logits are megabytes, which a fresh allocation would fault in each step.
  features_.resize(static_cast<size_t>(m) * C);
  logits_.resize(static_cast<size_t>(m) * V);
  for (int j = 0; j < m; ++j) std::copy(ready[j]->features.begin(), ready[j]->features.end(), features_.begin() + j * C);
  head_.project_rows(features_.data(), m, logits_.data());
  // Each choice samples with its own sampler, generator and history: in parallel, the same draws.
  std::vector<int32_t> drawn(m);
#pragma omp parallel for schedule(dynamic) if (m > 1)
  for (int j = 0; j < m; ++j)
    drawn[j] = ready[j]->sampler.sample(logits_.data() + static_cast<int64_t>(j) * V, limit, *ready[j]->rng,
                                        *ready[j]->history);

  std::vector<Choice*> fed, ended;
  std::vector<TokenStream*> streams;
  std::vector<int32_t> tokens;
  std::vector<std::string> reasons;
  for (int j = 0; j < m; ++j) {
    Choice& c = *ready[j];
    const int32_t token = drawn[j];
    ++c.drawn;
    metrics_.generated_tokens += 1;
    std::string reason;
    if (token == c.job->stop_token) {
      reason = "stop";
    } else {
      ChoiceEvent e{c.index, c.stop.feed(c.utf8.feed(tokenizer_.token_bytes(token))), {token}, {}};
      c.job->completion_tokens += 1;
      c.job->push(std::move(e));
      if (!c.job->first_token_sent.exchange(true)) {
        metrics_.first_tokens += 1;
        add_seconds(metrics_.first_token_seconds, c.job->submitted);
      }
      if (c.stop.stopped()) reason = "stop";
      else if (c.drawn >= c.job->max_tokens) reason = "length";
    }
    // The last token is fed only into a session's stream, which keeps the whole text (as
    // StreamingSample's feed_last): nothing reads its logits otherwise.
    if (reason.empty() || c.job->session) {
      c.history->push_back(token);
      fed.push_back(&c);
      streams.push_back(c.stream);
      tokens.push_back(token);
    }
    if (!reason.empty()) {
      ended.push_back(&c);
      reasons.push_back(reason);
    }
  }
  if (!fed.empty()) {
    std::vector<float> next(fed.size() * static_cast<size_t>(C));
    advance_streams(streams, tokens, next.data(), C);
    for (size_t j = 0; j < fed.size(); ++j) fed[j]->features.assign(next.begin() + j * C, next.begin() + (j + 1) * C);
  }
  for (size_t j = 0; j < ended.size(); ++j) finish(*ended[j], reasons[j]);
  metrics_.steps += 1;
  add_seconds(metrics_.generation_seconds, t0);
}

void Engine::run() {
  // OpenMP's thread count is per thread: -t set it in main, not here (two spinning threads on
  // busy cores made a step 20x slower).
  set_threads(options_.stream.threads);
  std::vector<std::unique_ptr<Choice>> active;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !active.empty(); });
      if (stopping_) {
        for (auto& [job, k] : queue_) job->cancelled = true;
        for (auto& c : active) c->job->cancelled = true;
        if (queue_.empty() && active.empty()) return;
      }
      admit_locked(active);
    }
    const auto now = Clock::now();
    for (auto& c : active) {
      if (c->job->cancelled) finish(*c, "cancelled");
      else if (now > c->job->deadline) finish(*c, "time_limit");
    }
    try {
      prefill(active);
      decode(active);
    } catch (const Error& e) {  // a bug, not a client's mistake: requests were checked before
      std::fprintf(stderr, "serve: error in a generation step: %s\n", e.what());
      for (auto& c : active)
        if (!c->done) finish(*c, "error");
    }
    const int before = static_cast<int>(active.size());
    std::erase_if(active, [](const std::unique_ptr<Choice>& c) { return c->done; });
    std::lock_guard lock(mutex_);
    active_count_ -= before - static_cast<int>(active.size());
    metrics_.busy_slots = static_cast<int>(active.size());
  }
}

}  // namespace mosaic::serve
