// `mosaic serve`: an OpenAI-compatible completion server over one model (docs/serve.md). Parses
// the flags (the sampler defaults and memory limits of `sample`, the slots, queue, key and
// limits of the server), loads the model and tokenizer, starts the engine (src/serve/engine.hpp)
// and the HTTP server, and waits. SIGINT or SIGTERM: stop accepting, let what runs finish for
// --shutdown-grace seconds, cancel the rest, exit 0.
#include <CLI/CLI.hpp>

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "cli/commands.hpp"
#include "cli/memory_flags.hpp"
#include "core/error.hpp"
#include "core/resources.hpp"
#include "infer/generate.hpp"
#include "io/model_io.hpp"
#include "kernels/threads.hpp"
#include "serve/engine.hpp"
#include "serve/http_server.hpp"
#include "serve/sessions.hpp"
#include "text/gpt2_tokenizer.hpp"

namespace mosaic {

namespace {

struct ServeFlags {
  std::string model, tokenizer_dir, evict = "oldest", head = "fp32", page_dir, name;
  int threads = 0, n = kSampleTokens;
  int64_t seed = -1;
  double shutdown_grace = 10;
  SamplerConfig sampler = kSampleDefaults;
  MemoryFlags memory;
  serve::EngineOptions engine;
  serve::ServerOptions server;
  serve::SessionLimits sessions;
};

void add_serve_flags(CLI::App* cmd, ServeFlags* f) {
  cmd->add_option("-m,--model", f->model, "checkpoint (.safetensors) or run folder (its newest checkpoint)")->required();
  cmd->add_option("--host", f->server.host, "address to listen on (0.0.0.0: every interface)");
  cmd->add_option("--port", f->server.port, "port to listen on (0: any free port, printed)")->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", f->engine.parallel, "choices generated together (slots)")->check(CLI::Range(1, 256));
  cmd->add_option("--max-queue", f->engine.max_queue, "requests waiting for a slot before 503")->check(CLI::Range(0, 4096));
  cmd->add_option("--api-key", f->server.api_key, "require Authorization: Bearer KEY (default: $MOSAIC_API_KEY, else none)");
  cmd->add_option("--name", f->name, "the model's id in /v1/models (default: the model file's name)");
  cmd->add_option("-n,--n-predict", f->n, "max_tokens of a request that gives none")->check(CLI::Range(0, 1 << 16));
  cmd->add_option("-s,--seed", f->seed, "seed of a request that gives none; -1: a random one each time")
      ->check(CLI::Range(int64_t{-1}, INT64_MAX));
  cmd->add_option("-t,--threads", f->threads, "threads (default: the cores other processes leave free, checked every step)");
  cmd->add_option("--temp", f->sampler.temperature, "default temperature; 0 = greedy")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", f->sampler.top_k, "default top_k (0 = off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", f->sampler.top_p, "default top_p in (0, 1] (1 = off)");
  cmd->add_option("--min-p", f->sampler.min_p, "default min_p (0 = off)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeat-penalty", f->sampler.repeat_penalty, "default repeat_penalty (1 = off)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--repeat-last-n", f->sampler.repeat_last_n, "default repeat_last_n")->check(CLI::Range(0, 1024));
  cmd->add_option("--tokenizer", f->tokenizer_dir, "folder with encoder.json and vocab.bpe");
  cmd->add_option("--mem-limit", f->engine.stream.memory.max_pairs,
                  "mosaic: keep at most N (key, value) pairs per contextual-memory head (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--evict", f->evict, "mosaic, with --mem-limit: oldest | lru (least recently used)");
  cmd->add_option("--lru-threshold", f->engine.stream.memory.lru_threshold,
                  "with --evict lru: a pair counts as used when its attention weight exceeds this")
      ->check(CLI::Range(0.0, 1.0));
  add_memory_flags(cmd, &f->memory);
  cmd->add_option("--head", f->head, "vocabulary projection: fp32 or bf16 (as mosaic sample --head)");
  cmd->add_option("--session-dir", f->sessions.dir, "folder where /sessions/NAME/save and /load write and read");
  cmd->add_option("--max-sessions", f->sessions.max_sessions, "sessions kept at once (least recently used goes first)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--session-bytes", f->sessions.max_bytes, "bytes of memories all sessions may hold together")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-body-bytes", f->server.max_body_bytes, "largest request body (413 beyond)")
      ->check(CLI::Range(int64_t{1024}, int64_t{1} << 32));
  cmd->add_option("--max-prompt-bytes", f->server.limits.max_prompt_bytes, "longest prompt text")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-choices", f->server.limits.max_choices, "n x prompts of one request at most")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--timeout", f->server.request_timeout, "seconds a request may generate (then finish_reason time_limit)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--shutdown-grace", f->shutdown_grace,
                  "on SIGINT/SIGTERM, seconds running requests may finish before they are cancelled")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--page-dir", f->page_dir, "the page's files (default: installed beside the binary, or the checkout's)");
}

void check_serve_flags(ServeFlags* f) {
  f->sampler.validate({"--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n"});
  MOSAIC_CHECK(std::isfinite(f->engine.stream.memory.lru_threshold) && std::isfinite(f->server.request_timeout) &&
                   std::isfinite(f->shutdown_grace),
               "--lru-threshold, --timeout and --shutdown-grace must be finite numbers", "see mosaic serve --help");
  f->engine.stream.memory.policy = parse_eviction(f->evict);
  f->engine.stream.retrieval = memory_options(f->memory);
  f->engine.stream.head = parse_head_precision(f->head);
  set_threads(f->threads);
  f->engine.stream.threads = f->threads;
  if (f->server.api_key.empty())
    if (const char* key = std::getenv("MOSAIC_API_KEY")) f->server.api_key = key;
  if (!f->sessions.dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(f->sessions.dir, ec);
    MOSAIC_CHECK(std::filesystem::is_directory(f->sessions.dir, ec), "cannot use --session-dir " + f->sessions.dir,
                 "give a folder the server may create and write");
  }
}

// The page's folder: --page-dir, else $MOSAIC_PAGE_DIR, beside the binary, installed, or the checkout's.
std::string page_dir(const std::string& flag) {
  auto has_index = [](const std::string& dir) { return std::filesystem::is_regular_file(dir + "/index.html"); };
  if (!flag.empty()) {
    MOSAIC_CHECK(has_index(flag), "--page-dir " + flag + " holds no index.html", "give the folder of the page's files");
    return flag;
  }
  const std::string found = find_resource("page", "MOSAIC_PAGE_DIR", "src/serve/page", has_index);
  return has_index(found) ? found : "";
}

// Blocks SIGINT and SIGTERM in this thread and every thread it starts (they are waited for by
// one thread with sigwait, not handled asynchronously).
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void run_serve(ServeFlags& f) {
  const sigset_t stop_signals = block_stop_signals();  // before any thread starts
  check_serve_flags(&f);
  const std::string path = resolve_model_path(f.model);
  auto model = load_model(path);
  const std::string tokenizer_dir = f.tokenizer_dir.empty() ? Gpt2Tokenizer::default_dir() : f.tokenizer_dir;
  const auto tokenizer = Gpt2Tokenizer::load(tokenizer_dir);
  MOSAIC_CHECK(model->config().vocab_size >= tokenizer.vocab_size(),
               "the model's vocabulary (" + std::to_string(model->config().vocab_size) +
                   ") is smaller than the tokenizer's (" + std::to_string(tokenizer.vocab_size()) + ")",
               "this checkpoint was trained with another tokenizer");

  serve::ServerOptions& o = f.server;
  o.model_name = f.name.empty() ? std::filesystem::path(path).parent_path().filename().string() + "/" +
                                      std::filesystem::path(path).filename().string()
                                : f.name;
  o.page_dir = page_dir(f.page_dir);
  o.seed = f.seed;
  o.limits.vocab_size = tokenizer.vocab_size();
  o.limits.sampler_defaults = f.sampler;
  o.limits.default_max_tokens = f.n;
  o.limits.max_prompt_tokens = static_cast<int>(std::min<int64_t>(o.limits.max_prompt_bytes, 1 << 24));
  f.sessions.history = o.limits.max_repeat_last_n;
  f.engine.history = o.limits.max_repeat_last_n;

  serve::SessionStore sessions(*model, f.engine.stream, f.sessions);
  serve::Engine engine(*model, tokenizer, f.engine);
  serve::HttpServer server(*model, tokenizer, engine, sessions, o);
  const int port = server.bind();

  // SIGINT / SIGTERM: new requests get 503, those running get a grace period, then are cancelled;
  // the listener closes once every answer is written (closing it cuts answers short).
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "serve: %s: stopping (running requests get %.1f s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                 f.shutdown_grace);
    engine.stop_accepting();
    auto wait_until = [](double seconds, const auto& done) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
      while (!done() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    };
    wait_until(f.shutdown_grace, [&] { return engine.idle(); });
    engine.cancel_all();
    wait_until(10.0, [&] { return engine.idle() && server.in_flight() == 0; });
    server.stop();
  });
  std::printf("mosaic serve: %s (%s) on http://%s:%d/ (%d slots%s)\n", path.c_str(),
              model->config().arch.c_str(), o.host.c_str(), port, f.engine.parallel,
              o.page_dir.empty() ? ", no page" : "");
  std::fflush(stdout);
  server.listen();
  stopper.join();
  std::fprintf(stderr, "serve: stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "an OpenAI-compatible completion server (docs/serve.md)");
  add_serve_flags(cmd, f.get());
  cmd->callback([f] { run_serve(*f); });
}

}  // namespace mosaic
