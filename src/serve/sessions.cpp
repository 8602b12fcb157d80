// Sessions: a map of named streams under one mutex, an LRU clock, and their files: NAME.memory
// (a memory file: the stream, validated on load) beside NAME.session.json (the generator's state
// and the recent tokens), each written atomically, the memory first.
#include "serve/sessions.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/memory_file.hpp"
#include "serve/request.hpp"

namespace mosaic::serve {

using nlohmann::json;

int64_t stream_bytes(const TokenStream& stream, const ModelConfig& config) {
  int64_t entries = 0;
  for (const int e : stream.state().entries_per_head()) entries += e;
  const int64_t head_size = config.n_embd / std::max(1, config.n_head);
  return entries * 2 * head_size * static_cast<int64_t>(sizeof(float));
}

SessionStore::SessionStore(const LanguageModel<float>& model, const StreamOptions& options, SessionLimits limits)
    : model_(model), options_(options), limits_(std::move(limits)) {
  options_.head = HeadPrecision::Fp32;  // the engine projects; a stream's own head is never a bf16 copy
}

std::shared_ptr<Session> SessionStore::acquire(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(name);
  if (it != sessions_.end()) {
    if (it->second->busy) fail(409, "session '" + name + "' is busy with another request", "session_busy");
    it->second->busy = true;
    return it->second;
  }
  make_room_locked("", 1);
  if (static_cast<int>(sessions_.size()) >= limits_.max_sessions)
    fail(503, "all " + std::to_string(limits_.max_sessions) + " sessions are busy", "sessions_full", "server_error");
  auto s = std::make_shared<Session>();
  s->name = name;
  s->stream = make_stream(model_, options_);
  s->busy = true;
  sessions_[name] = s;
  return s;
}

void SessionStore::release(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(mutex_);
  session->busy = false;
  session->last_used = ++clock_;
  session->bytes = stream_bytes(*session->stream, model_.config());
  if (session->history.size() > static_cast<size_t>(2 * limits_.history))  // what the penalty can still read
    session->history.erase(session->history.begin(), session->history.end() - limits_.history);
  make_room_locked("", 0);
}

// Evicts idle sessions, least recently used first, while there are too many or too many bytes.
void SessionStore::make_room_locked(const std::string& keep, int adding) {
  auto over = [&] {
    int64_t total = 0;
    for (const auto& [n, s] : sessions_) total += s->bytes;
    return static_cast<int>(sessions_.size()) + adding > limits_.max_sessions || total > limits_.max_bytes;
  };
  while (over()) {
    std::shared_ptr<Session> oldest;
    for (const auto& [n, s] : sessions_)
      if (!s->busy && n != keep && (!oldest || s->last_used < oldest->last_used)) oldest = s;
    if (!oldest) return;
    std::fprintf(stderr, "serve: session %s evicted (least recently used)\n", oldest->name.c_str());
    sessions_.erase(oldest->name);
  }
}

std::shared_ptr<Session> SessionStore::hold_existing(const std::string& name) {
  check_session_name(name);
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(name);
  if (it == sessions_.end()) fail(404, "no session '" + name + "'", "session_not_found");
  if (it->second->busy) fail(409, "session '" + name + "' is busy with another request", "session_busy");
  it->second->busy = true;
  return it->second;
}

std::string SessionStore::path(const std::string& name, const char* ext) const {
  if (limits_.dir.empty())
    fail(400, "this server keeps no session files: start it with --session-dir DIR", "no_session_dir");
  return (std::filesystem::path(limits_.dir) / (name + ext)).string();
}

json SessionStore::save(const std::string& name) {
  const std::string memory = path(name, ".memory"), side = path(name, ".session.json");
  auto s = hold_existing(name);
  try {
    save_memory_file(memory, model_, s->stream->state(), options_.memory);
    const auto st = s->rng.state();
    const json j = {{"format", "mosaic-session-1"},
                    {"rng", {std::to_string(st[0]), std::to_string(st[1]), std::to_string(st[2]), std::to_string(st[3])}},
                    {"history", s->history},
                    {"position", s->stream->position()}};
    write_file_atomically(side, std::string_view(j.dump()));
  } catch (const Error& e) {
    release(s);
    fail(400, std::string("cannot save session '") + name + "': " + e.what() + (e.hint.empty() ? "" : " (" + e.hint + ")"),
         "session_save_failed");
  }
  const int64_t position = s->stream->position();
  release(s);
  return {{"session", name}, {"saved", true}, {"tokens", position}, {"file", memory}};
}

namespace {

// NAME.session.json: the generator's four words and the history, each checked.
void read_session_side(const std::string& path, int vocab, Rng& rng, std::vector<int32_t>& history) {
  std::ifstream in(path, std::ios::binary);
  MOSAIC_CHECK(in.good(), "no session file " + path, "save the session first (POST /sessions/NAME/save)");
  std::stringstream text;
  text << in.rdbuf();
  const json j = json::parse(text.str(), nullptr, false);
  MOSAIC_CHECK(!j.is_discarded() && j.is_object() && j.value("format", "") == "mosaic-session-1" &&
                   j.contains("rng") && j["rng"].is_array() && j["rng"].size() == 4 && j.contains("history") &&
                   j["history"].is_array(),
               path + " is not a session file or is damaged", "save the session again");
  std::array<uint64_t, 4> st{};
  for (int i = 0; i < 4; ++i) {
    MOSAIC_CHECK(j["rng"][i].is_string(), path + " holds a damaged generator state", "save the session again");
    try {
      size_t used = 0;
      const std::string w = j["rng"][i].get<std::string>();
      st[i] = std::stoull(w, &used);
      MOSAIC_CHECK(used == w.size(), path + " holds a damaged generator state", "save the session again");
    } catch (const std::logic_error&) {
      throw Error(path + " holds a damaged generator state", "save the session again");
    }
  }
  rng.set_state(st);
  history.clear();
  for (const json& t : j["history"]) {
    MOSAIC_CHECK(t.is_number_integer() && t.get<int64_t>() >= 0 && t.get<int64_t>() < vocab,
                 path + " holds a token id outside the vocabulary", "save the session again");
    history.push_back(t.get<int32_t>());
  }
}

}  // namespace

json SessionStore::load(const std::string& name) {
  check_session_name(name);
  const std::string memory = path(name, ".memory"), side = path(name, ".session.json");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(memory, ec))
    fail(404, "no saved session '" + name + "' in " + limits_.dir, "session_file_not_found");
  // Read into a new session first: a damaged file leaves the one in memory as it was.
  auto fresh = std::make_shared<Session>();
  fresh->name = name;
  fresh->stream = make_stream(model_, options_);
  try {
    read_session_side(side, model_.config().vocab_size, fresh->rng, fresh->history);
    load_memory_file(memory, model_, fresh->stream->state(), options_.memory);
  } catch (const Error& e) {
    fail(400, std::string("cannot load session '") + name + "': " + e.what() + (e.hint.empty() ? "" : " (" + e.hint + ")"),
         "session_load_failed");
  }
  {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(name);
    if (it != sessions_.end() && it->second->busy)
      fail(409, "session '" + name + "' is busy with another request", "session_busy");
    if (it == sessions_.end()) make_room_locked(name, 1);
    if (it == sessions_.end() && static_cast<int>(sessions_.size()) >= limits_.max_sessions)
      fail(503, "all " + std::to_string(limits_.max_sessions) + " sessions are busy", "sessions_full", "server_error");
    fresh->last_used = ++clock_;
    fresh->bytes = stream_bytes(*fresh->stream, model_.config());
    sessions_[name] = fresh;
    make_room_locked(name, 0);
  }
  return {{"session", name}, {"loaded", true}, {"tokens", fresh->stream->position()}};
}

void SessionStore::remove(const std::string& name) {
  auto s = hold_existing(name);
  std::lock_guard lock(mutex_);
  sessions_.erase(name);
}

json SessionStore::list() {
  std::lock_guard lock(mutex_);
  json out = json::array();
  for (const auto& [n, s] : sessions_)
    out.push_back({{"session", n}, {"busy", s->busy}, {"bytes", s->bytes}, {"tokens", s->busy ? -1 : s->stream->position()}});
  return out;
}

int SessionStore::count() {
  std::lock_guard lock(mutex_);
  return static_cast<int>(sessions_.size());
}

int64_t SessionStore::bytes() {
  std::lock_guard lock(mutex_);
  int64_t total = 0;
  for (const auto& [n, s] : sessions_) total += s->bytes;
  return total;
}

}  // namespace mosaic::serve
