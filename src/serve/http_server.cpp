// Routes of `mosaic serve`. Every handler runs inside `guarded`, which turns an ApiException (a
// client's mistake, a full queue, a busy session) or a library Error into OpenAI's error object
// with its status, so that no request can take the server down. Completions answer in chunks
// even when not streaming: while a request waits, a space (JSON allows it) or an SSE comment goes
// out every second, and a failed write is how a client's disconnection is noticed (this
// cpp-httplib has no other way), which cancels its generation.
#include "serve/http_server.hpp"

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include "core/error.hpp"
#include "eval/attention_map.hpp"
#include "infer/generate.hpp"
#include "kernels/threads.hpp"
#include "text/utf8_stream.hpp"

namespace mosaic::serve {

using nlohmann::json;

namespace {

constexpr auto kHeartbeat = std::chrono::milliseconds(1000);
constexpr size_t kExplainTokens = 1024;

// Token pieces may be bytes of half a character: those become U+FFFD rather than an exception.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  if (e.status == 503) res.set_header("Retry-After", "1");
  if (e.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  send_json(res, e.status, e.to_json());
}

// What a library Error says, as one message (its hint after it).
std::string error_text(const Error& e) { return std::string(e.what()) + (e.hint.empty() ? "" : " (hint: " + e.hint + ")"); }

// The path as a metrics label: known routes, "/sessions" for every session, else "other".
std::string route_label(const std::string& path) {
  static const char* known[] = {"/health", "/v1/models", "/v1/completions", "/v1/chat/completions", "/tokenize",
                                "/detokenize", "/metrics", "/v1/explain", "/"};
  for (const char* k : known)
    if (path == k) return k;
  if (path.rfind("/sessions", 0) == 0) return "/sessions";
  return "other";
}

std::string status_text(int status) {
  switch (status) {
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 413: return "the request body is larger than the server's limit (--max-body-bytes)";
    case 414: return "the request line is too long";
    default: return "HTTP status " + std::to_string(status);
  }
}

// True when host:port can be bound by a socket that does not share ports. cpp-httplib sets
// SO_REUSEPORT, with which a second server would bind a port already served and take half its
// connections; this probe, without it, fails instead.
bool port_is_free(const std::string& host, int port) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return true;  // httplib says
  bool free = false;
  for (addrinfo* a = found; a && !free; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);  // a closed server's TIME_WAIT is no owner
    free = ::bind(fd, a->ai_addr, a->ai_addrlen) == 0;
    close(fd);
  }
  freeaddrinfo(found);
  return free;
}

uint64_t random_seed() {
  std::random_device rd;
  return ((static_cast<uint64_t>(rd()) << 32) | rd()) >> 1;
}

}  // namespace

struct HttpServer::Impl {
  LanguageModel<float>& model;
  const Gpt2Tokenizer& tokenizer;
  Engine& engine;
  SessionStore& sessions;
  ServerOptions options;
  httplib::Server server;
  std::mutex explain_mutex;  // the model's forward state is one
  std::atomic<uint64_t> next_id{1};
  std::mutex counts_mutex;
  std::map<std::pair<std::string, int>, int64_t> counts;  // (route, status) -> requests
  std::atomic<int> in_flight{0};  // completions whose answer is still being written

  Impl(LanguageModel<float>& m, const Gpt2Tokenizer& t, Engine& e, SessionStore& s, ServerOptions o)
      : model(m), tokenizer(t), engine(e), sessions(s), options(std::move(o)) {}

  // Runs a handler; a client's mistake or a library error becomes an error response.
  template <class F>
  auto guarded(F handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      try {
        handler(req, res);
      } catch (const ApiException& e) {
        send_error(res, e.error);
      } catch (const Error& e) {
        send_error(res, ApiError{400, error_text(e), "invalid_request_error", "invalid_value"});
      } catch (const std::bad_alloc&) {
        send_error(res, ApiError{500, "out of memory", "server_error", "out_of_memory"});
      } catch (const std::exception& e) {
        send_error(res, ApiError{500, std::string("internal error: ") + e.what(), "server_error", "internal"});
      }
    };
  }

  json body_of(const httplib::Request& req) { return parse_body(req.body); }

  // The ids a text prompt is fed as: <|endoftext|> first unless it continues a session.
  std::vector<int32_t> prompt_ids(const Prompt& p, bool continues) {
    if (const auto* ids = std::get_if<std::vector<int32_t>>(&p)) return *ids;
    const std::string& text = std::get<std::string>(p);
    std::vector<int32_t> ids;
    try {
      ids = document_prompt(model.config(), tokenizer.eot(), tokenizer.vocab_size(), tokenizer.encode(text), continues);
    } catch (const Error& e) {
      fail(400, error_text(e), "prompt_too_long");
    }
    if (static_cast<int64_t>(ids.size()) > options.limits.max_prompt_tokens)
      fail(400, "the prompt is " + std::to_string(ids.size()) + " tokens, more than the server's limit of " +
                    std::to_string(options.limits.max_prompt_tokens), "prompt_too_long");
    return ids;
  }

  std::string prompt_text(const Prompt& p) {
    if (const auto* text = std::get_if<std::string>(&p)) return *text;
    Utf8Stream u;
    return u.feed(tokenizer.decode(std::get<std::vector<int32_t>>(p))) + u.flush();
  }

  // ---- completions (plain and chat) ----

  void handle_completion(const httplib::Request& req, httplib::Response& res, CompletionRequest r, bool chat) {
    auto job = std::make_shared<Job>();
    std::shared_ptr<Session> session;
    if (!r.session.empty()) {
      session = sessions.acquire(r.session);
      job->session = session;
      job->fresh_session = session->stream->position() == 0;
      SessionStore* store = &sessions;
      job->on_finished = [store, session] { store->release(session); };
    }
    // A session is held from here: give it back on any error before the engine takes the job.
    struct Release {
      SessionStore* store;
      std::shared_ptr<Session> s;
      bool armed = true;
      ~Release() {
        if (armed && s) store->release(s);
      }
    } release{&sessions, session};

    const bool continues = session && !job->fresh_session;
    std::vector<std::string> echoes;
    for (const Prompt& p : r.prompts) {
      const std::vector<int32_t> ids = prompt_ids(p, continues);
      if (ids.empty() && !continues) fail(400, "the prompt is empty", "invalid_value");
      for (int i = 0; i < r.n; ++i) {
        job->prompts.push_back(ids);
        echoes.push_back(r.echo ? prompt_text(p) : "");
      }
    }
    job->max_tokens = r.max_tokens < 0 ? options.limits.max_tokens : r.max_tokens;
    job->sampler = r.sampler;
    job->reseed = r.seed.has_value() || !session || job->fresh_session;
    job->seed = r.seed ? *r.seed : options.seed >= 0 ? static_cast<uint64_t>(options.seed) : random_seed();
    job->stop_token = r.ignore_eos ? -1 : tokenizer.eot();
    job->stops = r.stop;
    if (chat) job->stops.insert(job->stops.end(), kChatStops.begin(), kChatStops.end());
    job->deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options.request_timeout));
    engine.submit(job);  // 503 when full: the session is given back by `release`
    release.armed = false;
    ++in_flight;  // until the answer's releaser runs

    const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id++);
    const int64_t created = static_cast<int64_t>(std::time(nullptr));
    res.set_header("Cache-Control", "no-cache");
    if (r.stream)
      stream_completion(res, job, r, chat, id, created, echoes);
    else
      whole_completion(res, job, r, chat, id, created, echoes);
  }

  json usage_of(const Job& job) {
    const int64_t p = job.prompt_tokens, c = job.completion_tokens;
    return {{"prompt_tokens", p}, {"completion_tokens", c}, {"total_tokens", p + c}};
  }

  json extras(const Job& job, const CompletionRequest& r) {
    json x = {{"seed", job.seed}};
    if (job.session) x["session"] = {{"name", r.session}, {"tokens", job.session_tokens.load()}};
    return x;
  }

  // Not streamed: the whole answer once every choice has finished, spaces before it meanwhile.
  void whole_completion(httplib::Response& res, const std::shared_ptr<Job>& job, const CompletionRequest& r, bool chat,
                        const std::string& id, int64_t created, const std::vector<std::string>& echoes) {
    struct State {
      std::vector<std::string> text;
      std::vector<std::vector<int32_t>> tokens;
      std::vector<std::string> finish;
    };
    auto st = std::make_shared<State>();
    st->text = echoes;
    st->tokens.resize(job->choices());
    st->finish.resize(job->choices());
    res.set_chunked_content_provider(
        "application/json",
        [this, job, st, r, chat, id, created](size_t, httplib::DataSink& sink) {
          std::vector<ChoiceEvent> events;
          const bool done = job->take_events(events, kHeartbeat, true);
          for (auto& e : events) {
            st->text[e.choice] += e.text;
            st->tokens[e.choice].insert(st->tokens[e.choice].end(), e.tokens.begin(), e.tokens.end());
            if (!e.finish.empty()) st->finish[e.choice] = e.finish;
          }
          if (!done) {
            if (!sink.write(" ", 1)) {  // the client is gone
              job->cancelled = true;
              return false;
            }
            return true;
          }
          json choices = json::array();
          for (int k = 0; k < job->choices(); ++k) {
            json c = {{"index", k}, {"finish_reason", st->finish[k]}, {"tokens", st->tokens[k]}};
            if (chat)
              c["message"] = {{"role", "assistant"}, {"content", st->text[k]}};
            else {
              c["text"] = st->text[k];
              c["logprobs"] = nullptr;
            }
            choices.push_back(std::move(c));
          }
          json body = {{"id", id},
                       {"object", chat ? "chat.completion" : "text_completion"},
                       {"created", created},
                       {"model", options.model_name},
                       {"choices", choices},
                       {"usage", usage_of(*job)}};
          body.update(extras(*job, r));
          const std::string s = dump(body);
          sink.write(s.data(), s.size());
          sink.done();
          return true;
        },
        [this, job](bool success) {
          if (!success) job->cancelled = true;
          --in_flight;
        });
  }

  // Streamed: `data: {chunk}` per settled piece of text, then `data: [DONE]`.
  void stream_completion(httplib::Response& res, const std::shared_ptr<Job>& job, const CompletionRequest& r,
                         bool chat, const std::string& id, int64_t created, const std::vector<std::string>& echoes) {
    auto first = std::make_shared<std::vector<bool>>(job->choices(), true);
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, job, first, r, chat, id, created, echoes](size_t, httplib::DataSink& sink) {
          auto send = [&](const json& chunk) {
            const std::string s = "data: " + dump(chunk) + "\n\n";
            return sink.write(s.data(), s.size());
          };
          auto chunk_of = [&](json choices) {
            return json{{"id", id},
                        {"object", chat ? "chat.completion.chunk" : "text_completion"},
                        {"created", created},
                        {"model", options.model_name},
                        {"choices", std::move(choices)}};
          };
          std::vector<ChoiceEvent> events;
          const bool done = job->take_events(events, kHeartbeat);
          if (events.empty() && !done) {
            if (!sink.write(": waiting\n\n", 11)) {
              job->cancelled = true;
              return false;
            }
            return true;
          }
          for (auto& e : events) {
            std::string text = e.text;
            if ((*first)[e.choice]) text = echoes[e.choice] + text;
            if (text.empty() && e.tokens.empty() && e.finish.empty()) continue;
            json c = {{"index", e.choice}, {"finish_reason", e.finish.empty() ? json(nullptr) : json(e.finish)},
                      {"tokens", e.tokens}};
            if (chat) {
              json delta = {{"content", text}};
              if ((*first)[e.choice]) delta["role"] = "assistant";
              c["delta"] = delta;
            } else {
              c["text"] = text;
              c["logprobs"] = nullptr;
            }
            (*first)[e.choice] = false;
            json chunk = chunk_of(json::array({c}));
            if (!e.finish.empty()) chunk.update(extras(*job, r));
            if (!send(chunk)) {
              job->cancelled = true;
              return false;
            }
          }
          if (!done) return true;
          if (r.include_usage) {  // OpenAI's usage chunk: no choices
            json last = chunk_of(json::array());
            last["usage"] = usage_of(*job);
            if (!send(last)) return false;
          }
          sink.write("data: [DONE]\n\n", 14);
          sink.done();
          return true;
        },
        [this, job](bool success) {
          if (!success) job->cancelled = true;
          --in_flight;
        });
  }

  // ---- the other endpoints ----

  json models_list() {
    const ModelConfig& c = model.config();
    return {{"object", "list"},
            {"data", json::array({{{"id", options.model_name},
                                   {"object", "model"},
                                   {"created", 0},
                                   {"owned_by", "mosaic"},
                                   {"meta",
                                    {{"arch", c.arch},
                                     {"n_layer", c.n_layer},
                                     {"n_head", c.n_head},
                                     {"n_embd", c.n_embd},
                                     {"vocab_size", c.vocab_size},
                                     {"block_size", c.block_size}}}}})}};
  }

  std::string metrics_text() {
    const EngineMetrics& m = engine.metrics();
    std::ostringstream out;
    auto metric = [&](const char* name, const char* type, const char* help, double value) {
      out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' ' << value << '\n';
    };
    out << "# HELP mosaic_requests_total HTTP requests answered, by route and status.\n"
           "# TYPE mosaic_requests_total counter\n";
    {
      std::lock_guard lock(counts_mutex);
      for (const auto& [key, n] : counts)
        out << "mosaic_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << '\n';
    }
    metric("mosaic_prompt_tokens_total", "counter", "Prompt tokens fed.", static_cast<double>(m.prompt_tokens));
    metric("mosaic_prompt_seconds_total", "counter", "Seconds spent feeding prompts.", m.prompt_seconds.load());
    metric("mosaic_generated_tokens_total", "counter", "Tokens sampled.", static_cast<double>(m.generated_tokens));
    metric("mosaic_generation_seconds_total", "counter", "Seconds spent in decoding steps.", m.generation_seconds.load());
    metric("mosaic_decode_steps_total", "counter", "Decoding steps (each advances every ready choice).",
           static_cast<double>(m.steps));
    metric("mosaic_time_to_first_token_seconds_total", "counter", "Sum over requests of the wait for their first token.",
           m.first_token_seconds.load());
    metric("mosaic_first_tokens_total", "counter", "Requests that received a first token.",
           static_cast<double>(m.first_tokens));
    metric("mosaic_requests_cancelled_total", "counter", "Choices cancelled (client gone, server stopping).",
           static_cast<double>(m.cancelled));
    metric("mosaic_requests_timed_out_total", "counter", "Choices ended by the per-request time limit.",
           static_cast<double>(m.timed_out));
    metric("mosaic_queue_depth", "gauge", "Requests waiting for a slot.", m.queued.load());
    metric("mosaic_busy_slots", "gauge", "Choices being generated.", m.busy_slots.load());
    metric("mosaic_slots", "gauge", "Choices generated together at most (--parallel).", engine.options().parallel);
    metric("mosaic_sessions", "gauge", "Sessions kept.", sessions.count());
    metric("mosaic_session_bytes", "gauge", "Bytes of the sessions' memories.", static_cast<double>(sessions.bytes()));
    return out.str();
  }

  json explain(const ExplainRequest& r) {
    std::vector<int32_t> ids = prompt_ids(r.prompt, false);
    const ModelConfig& c = model.config();
    // A Memory Mosaic explains up to kExplainTokens (it has no window; the forward pass keeps
    // (L, H, T, T) weights: 64 MiB at d128 and 1,024 tokens); a GPT its first window.
    const int context = c.arch == "gpt" ? 0 : static_cast<int>(std::min<size_t>(ids.size(), kExplainTokens));
    const std::vector<uint16_t> tokens(ids.begin(), ids.end());
    Explanation e;
    {
      std::lock_guard lock(explain_mutex);
      set_threads(engine.options().stream.threads);  // per thread in OpenMP: this one's as -t says
      e = explain_attention(model, tokens, r.top, context);
    }
    json toks = json::array();
    for (int i = 0; i < e.tokens; ++i) toks.push_back({{"id", tokens[i]}, {"text", tokenizer.token_bytes(tokens[i])}});
    json rows = json::array();
    for (const PositionRetrievals& row : e.rows) {
      json top = json::array();
      for (const Retrieval& x : row.top) {
        json pair = {{"position", x.position}, {"weight", x.weight}, {"key", tokens[x.position]}};
        if (!e.sees_self) pair["value"] = tokens[x.position + 1];
        top.push_back(pair);
      }
      rows.push_back({{"layer", row.layer}, {"head", row.head}, {"position", row.position}, {"top", top}});
    }
    return {{"tokens", toks}, {"sees_self", e.sees_self}, {"n_layer", c.n_layer}, {"n_head", c.n_head},
            {"top", r.top}, {"rows", rows}};
  }

  bool authorized(const httplib::Request& req) {
    if (options.api_key.empty()) return true;
    if (req.method == "GET" && (req.path == "/health" || req.path == "/" || req.path.rfind("/page/", 0) == 0)) return true;
    return req.get_header_value("Authorization") == "Bearer " + options.api_key ||
           req.get_header_value("X-Api-Key") == options.api_key;
  }

  void routes() {
    server.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
    server.set_read_timeout(30);
    server.set_write_timeout(30);
    const int threads = options.http_threads > 0 ? options.http_threads
                                                 : engine.options().parallel + engine.options().max_queue + 8;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
      send_error(res, ApiError{401, "missing or wrong API key: send the header Authorization: Bearer KEY",
                               "authentication_error", "invalid_api_key"});
      return httplib::Server::HandlerResponse::Handled;
    });
    // httplib's own answers (404, 413, ...) and anything else left without a body, as OpenAI's errors.
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const std::string type = res.status >= 500 ? "server_error" : "invalid_request_error";
      send_error(res, ApiError{res.status, status_text(res.status), type, res.status == 404 ? "not_found" : ""});
      return httplib::Server::HandlerResponse::Handled;
    }));
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      std::lock_guard lock(counts_mutex);
      ++counts[{route_label(req.path), res.status}];
    });

    server.Get("/health", guarded([](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, {{"status", "ok"}});
    }));
    server.Get("/v1/models", guarded([this](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, models_list());
    }));
    server.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_text(), "text/plain; version=0.0.4");
    }));
    server.Post("/v1/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
      handle_completion(req, res, parse_completion(body_of(req), options.limits), false);
    }));
    server.Post("/v1/chat/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
      handle_completion(req, res, parse_chat(body_of(req), options.limits).completion, true);
    }));
    server.Post("/tokenize", guarded([this](const httplib::Request& req, httplib::Response& res) {
      const std::vector<int> ids = tokenizer.encode(parse_tokenize(body_of(req), options.limits));
      json pieces = json::array();
      for (const int id : ids) pieces.push_back({{"id", id}, {"piece", tokenizer.token_bytes(id)}});
      send_json(res, 200, {{"tokens", ids}, {"pieces", pieces}});
    }));
    server.Post("/detokenize", guarded([this](const httplib::Request& req, httplib::Response& res) {
      const std::vector<int32_t> ids = parse_detokenize(body_of(req), options.limits);
      Utf8Stream text;  // the bytes as valid UTF-8: a character split at the end becomes U+FFFD
      send_json(res, 200, {{"content", text.feed(tokenizer.decode(ids)) + text.flush()}});
    }));
    server.Post("/v1/explain", guarded([this](const httplib::Request& req, httplib::Response& res) {
      send_json(res, 200, explain(parse_explain(body_of(req), options.limits)));
    }));
    server.Get("/sessions", guarded([this](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, {{"object", "list"}, {"data", sessions.list()}});
    }));
    server.Post(R"(/sessions/([^/]+)/save)", guarded([this](const httplib::Request& req, httplib::Response& res) {
      check_session_name(req.matches[1]);
      send_json(res, 200, sessions.save(req.matches[1]));
    }));
    server.Post(R"(/sessions/([^/]+)/load)", guarded([this](const httplib::Request& req, httplib::Response& res) {
      check_session_name(req.matches[1]);
      send_json(res, 200, sessions.load(req.matches[1]));
    }));
    server.Delete(R"(/sessions/([^/]+))", guarded([this](const httplib::Request& req, httplib::Response& res) {
      check_session_name(req.matches[1]);
      sessions.remove(req.matches[1]);
      send_json(res, 200, {{"session", std::string(req.matches[1])}, {"deleted", true}});
    }));
    if (!options.page_dir.empty()) {
      server.set_mount_point("/page", options.page_dir);
      server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/page/index.html"); });
    }
  }
};

HttpServer::HttpServer(LanguageModel<float>& model, const Gpt2Tokenizer& tokenizer, Engine& engine,
                       SessionStore& sessions, ServerOptions options)
    : impl_(std::make_unique<Impl>(model, tokenizer, engine, sessions, std::move(options))) {
  impl_->routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  const auto& o = impl_->options;
  int port = o.port;
  if (port == 0) {
    port = impl_->server.bind_to_any_port(o.host);
    MOSAIC_CHECK(port > 0, "cannot listen on " + o.host, "check --host (an address of this machine, e.g. 127.0.0.1)");
  } else {
    MOSAIC_CHECK(port_is_free(o.host, port) && impl_->server.bind_to_port(o.host, port),
                 "cannot listen on " + o.host + ":" + std::to_string(port),
                 "the port may be taken: pick another with --port (0: any free port)");
  }
  return port;
}

void HttpServer::listen() { impl_->server.listen_after_bind(); }

void HttpServer::stop() { impl_->server.stop(); }

int HttpServer::in_flight() const { return impl_->in_flight; }

}  // namespace mosaic::serve
