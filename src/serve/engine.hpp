// The batching scheduler of `mosaic serve`: one worker thread owns the model's streams and runs
// every request's choices together, a step at a time (continuous batching). Between two steps
// a waiting choice joins (its prompt fed a chunk per step, as Continuation::feed chunks it) and
// a finished, cancelled or timed-out one leaves; each step projects every ready choice's
// features in one product (VocabHead::project_rows: each row's logits the same whatever the
// batch), samples each with its own generator (choice k: seed + k), and feeds the tokens back
// on the threads (advance_streams, generate.hpp). So a choice draws the same text alone or among
// others. Not HTTP (http_server.hpp) and not the request parser (request.hpp).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/rng.hpp"
#include "infer/sampler.hpp"
#include "infer/stream.hpp"
#include "serve/sessions.hpp"
#include "text/gpt2_tokenizer.hpp"

namespace mosaic::serve {

using Clock = std::chrono::steady_clock;

// What the worker hands back for a choice: the text its new tokens settled (valid UTF-8, cut at
// a stop string) and those tokens; finish is "" until its last event ("stop", "length",
// "cancelled", "time_limit").
struct ChoiceEvent {
  int choice = 0;
  std::string text;
  std::vector<int32_t> tokens;
  std::string finish;
};

// One request: its choices' prompts and settings (set before submit), then the events the
// worker sends back, which the HTTP thread waits for.
class Job {
 public:
  std::vector<std::vector<int32_t>> prompts;  // per choice, the ids fed (may be empty only for a session)
  int max_tokens = 0;
  SamplerConfig sampler;
  uint64_t seed = 0;                  // choice k: Rng(seed + k); a session's own generator unless reseed
  bool reseed = true;
  int32_t stop_token = -1;            // <|endoftext|> unless ignore_eos
  std::vector<std::string> stops;
  std::shared_ptr<Session> session;   // held (busy) by the request; reset first when fresh_session
  bool fresh_session = false;
  Clock::time_point deadline = Clock::time_point::max();
  std::atomic<bool> cancelled{false};  // the client went away
  std::function<void()> on_finished;   // called by the worker once every choice has finished

  int choices() const { return static_cast<int>(prompts.size()); }
  // Waits up to `wait` for an event (for the last one: until_done) and appends those there are
  // to out. True once every choice has finished and out holds the last of its events.
  bool take_events(std::vector<ChoiceEvent>& out, std::chrono::milliseconds wait, bool until_done = false);

  // Filled by the worker.
  std::atomic<int64_t> prompt_tokens{0}, completion_tokens{0};
  std::atomic<bool> first_token_sent{false};
  int finished_choices = 0;  // worker only
  std::atomic<int64_t> session_tokens{0};  // a session's position when the request ended
  Clock::time_point submitted = Clock::now();

  void push(ChoiceEvent e);  // worker side

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<ChoiceEvent> events_;
  int finished_ = 0;
};

struct EngineOptions {
  int parallel = 4;       // choices advanced together
  int max_queue = 64;     // requests waiting beyond that: 503
  StreamOptions stream;   // memory bound, retrieval, head precision, threads
  int history = 1024;     // tokens of history a choice keeps for the repeat penalty
};

// Counters for /metrics, read while the worker runs.
struct EngineMetrics {
  std::atomic<int64_t> prompt_tokens{0}, generated_tokens{0}, steps{0}, first_tokens{0}, cancelled{0}, timed_out{0};
  std::atomic<double> prompt_seconds{0}, generation_seconds{0}, first_token_seconds{0};
  std::atomic<int> busy_slots{0}, queued{0};
};

class Engine {
 public:
  Engine(const LanguageModel<float>& model, const Gpt2Tokenizer& tokenizer, EngineOptions options);
  ~Engine();  // cancels what runs and joins the worker

  // Queues a request: ApiException 503 when the queue is full or the server is stopping.
  void submit(const std::shared_ptr<Job>& job);
  // Stops taking requests (503 from now on); those queued and running go on.
  void stop_accepting();
  // Cancels every queued and running request (they end with finish "cancelled").
  void cancel_all();
  // True once nothing is queued or running.
  bool idle();
  const EngineMetrics& metrics() const { return metrics_; }
  const EngineOptions& options() const { return options_; }

 private:
  struct Choice;
  void run();
  void admit_locked(std::vector<std::unique_ptr<Choice>>& active);
  void prefill(std::vector<std::unique_ptr<Choice>>& active);
  void decode(std::vector<std::unique_ptr<Choice>>& active);
  void finish(Choice& c, const std::string& reason);

  const LanguageModel<float>& model_;
  const Gpt2Tokenizer& tokenizer_;
  EngineOptions options_;
  VocabHead head_;  // one projection for all choices (bf16: one copy of wte)
  EngineMetrics metrics_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::shared_ptr<Job>, int>> queue_;  // jobs with choices to admit, the next one
  std::vector<std::weak_ptr<Job>> jobs_;                     // every job not yet finished, for cancel_all
  bool accepting_ = true, stopping_ = false;
  int active_count_ = 0;

  std::vector<std::unique_ptr<TokenStream>> free_streams_;  // reused by choices outside sessions
  std::vector<float> features_, logits_;                     // a step's (m, C) and (m, V), reused
  std::thread worker_;
};

}  // namespace mosaic::serve
