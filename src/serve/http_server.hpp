// The HTTP side of `mosaic serve` (cpp-httplib): routes, the API key, the body limit, OpenAI's
// error objects, server-sent events, /metrics and the page's static files. It turns requests
// into Jobs for the engine (engine.hpp) and their events into responses; the checking of
// bodies is request.hpp's, the batching the engine's, the sessions sessions.hpp's.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "models/language_model.hpp"
#include "serve/engine.hpp"
#include "serve/request.hpp"
#include "serve/sessions.hpp"
#include "text/gpt2_tokenizer.hpp"

namespace mosaic::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port (printed)
  std::string api_key;             // "": no key needed
  int64_t max_body_bytes = 4 << 20;
  double request_timeout = 300;    // seconds a request may generate
  int http_threads = 0;            // 0: enough for every slot and queue place
  std::string model_name;          // what /v1/models lists
  std::string page_dir;            // the page's files ("": no page)
  RequestLimits limits;
  int64_t seed = -1;               // a request without a seed: this, or a random one when -1
};

class HttpServer {
 public:
  // model: not const, for /v1/explain's forward pass (serialised); the engine's streams only read it.
  HttpServer(LanguageModel<float>& model, const Gpt2Tokenizer& tokenizer, Engine& engine, SessionStore& sessions,
             ServerOptions options);
  ~HttpServer();
  // Binds (Error with a hint when the address is taken); returns the port.
  int bind();
  // Serves until stop(); returns once every request in flight has ended.
  void listen();
  // Stops accepting connections and cuts the answers still being written (callable from
  // another thread): call it once in_flight() is 0.
  void stop();
  int in_flight() const;  // completions whose answer is still being written

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mosaic::serve
