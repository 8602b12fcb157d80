// Named sessions of `mosaic serve`: a stream whose memories outlive a request (the next request
// continues it without reading the earlier text again), with the generator and the sampler's
// recent tokens, so that requests in a row draw what one long request draws. Bounded in number
// and in bytes (the least recently used idle session goes first); saved to and loaded from
// memory files (io/memory_file.hpp) in the server's session folder. Not the batching: engine.hpp.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.hpp"
#include "infer/stream.hpp"
#include "models/language_model.hpp"

namespace mosaic::serve {

struct Session {
  std::string name;
  std::unique_ptr<TokenStream> stream;
  Rng rng;
  std::vector<int32_t> history;  // the newest tokens fed, for the repeat penalty
  bool busy = false;             // a request, a save or a load holds it (guarded by the store's mutex)
  uint64_t last_used = 0;        // the store's clock at its last release: least recent goes first
  int64_t bytes = 0;             // its memories' size at its last release
};

struct SessionLimits {
  int max_sessions = 16;
  int64_t max_bytes = int64_t{1} << 30;
  std::string dir;  // where save and load read and write; "": they are refused
  int history = 1024;  // tokens of history kept (the largest repeat_last_n a request may give)
};

class SessionStore {
 public:
  SessionStore(const LanguageModel<float>& model, const StreamOptions& options, SessionLimits limits);

  // The session for one request, marked busy: created (empty) when absent. ApiException 409 when
  // another request holds it, 503 when every slot is held by a busy session.
  std::shared_ptr<Session> acquire(const std::string& name);
  // Back to idle: its size counted again, and the least recently used idle sessions evicted
  // while the store is over its bounds.
  void release(const std::shared_ptr<Session>& session);

  // POST /sessions/NAME/save: its memories, generator and history, written atomically.
  nlohmann::json save(const std::string& name);
  // POST /sessions/NAME/load: replaces (or creates) the session from the files, checked.
  nlohmann::json load(const std::string& name);
  // DELETE /sessions/NAME.
  void remove(const std::string& name);
  nlohmann::json list();

  int count();
  int64_t bytes();

 private:
  std::shared_ptr<Session> hold_existing(const std::string& name);  // 404 absent, 409 busy
  void make_room_locked(const std::string& keep, int adding);  // adding: sessions about to join
  std::string path(const std::string& name, const char* ext) const;

  const LanguageModel<float>& model_;
  StreamOptions options_;
  SessionLimits limits_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;
  uint64_t clock_ = 0;
};

// Bytes a stream's memories take: pairs (or KV entries) per head x (key + value) x floats.
int64_t stream_bytes(const TokenStream& stream, const ModelConfig& config);

}  // namespace mosaic::serve
