// Request bodies checked field by field: a wrong type, a value out of range or an unknown field
// is a 400 that names the field, so that a client's mistake reads as one.
#include "serve/request.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/json_value.hpp"

namespace mosaic::serve {

using nlohmann::json;

json ApiError::to_json() const {
  return {{"error", {{"message", message}, {"type", type}, {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

void fail(int status, const std::string& message, const std::string& code, const std::string& type) {
  throw ApiException{ApiError{status, message, type, code}};
}

namespace {

[[noreturn]] void bad(const std::string& message, const std::string& code = "invalid_value") { fail(400, message, code); }

// JSON's name for a value's type, for messages.
std::string type_name(const json& v) { return v.type_name(); }

bool get_bool(const json& v, const char* field) {
  if (!v.is_boolean()) bad(std::string(field) + " must be true or false, not " + type_name(v), "invalid_type");
  return v.get<bool>();
}

// An integer in [lo, hi]; floats with no fraction (3.0) count, as JSON does not tell them apart.
int64_t get_int(const json& v, const char* field, int64_t lo, int64_t hi) {
  int64_t x = 0;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad(std::string(field) + " is out of range: it must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    x = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9e15)
      bad(std::string(field) + " must be an integer", "invalid_type");
    x = static_cast<int64_t>(d);
  } else {
    bad(std::string(field) + " must be an integer, not " + type_name(v), "invalid_type");
  }
  if (x < lo || x > hi)
    bad(std::string(field) + " is " + std::to_string(x) + ": it must be in [" + std::to_string(lo) + ", " +
        std::to_string(hi) + "]");
  return x;
}

double get_number(const json& v, const char* field) {
  if (!v.is_number()) bad(std::string(field) + " must be a number, not " + type_name(v), "invalid_type");
  const double d = v.get<double>();
  if (!std::isfinite(d)) bad(std::string(field) + " must be a finite number");
  return d;
}

// Token ids, each in [0, vocab).
std::vector<int32_t> get_ids(const json& v, const char* field, const RequestLimits& limits) {
  if (v.size() > static_cast<size_t>(limits.max_prompt_tokens))
    bad(std::string(field) + " holds " + std::to_string(v.size()) + " tokens, more than the server's limit of " +
        std::to_string(limits.max_prompt_tokens));
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (const json& t : v) {
    if (!t.is_number_integer()) bad(std::string(field) + " must hold integer token ids", "invalid_type");
    const int64_t id = t.is_number_unsigned() && t.get<uint64_t>() > INT64_MAX ? -1 : t.get<int64_t>();
    if (id < 0 || id >= limits.vocab_size)
      bad(std::string(field) + " holds the token id " + t.dump() + ": ids are in [0, " +
          std::to_string(limits.vocab_size) + ")");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

std::string get_text(const json& v, const char* field, int64_t max_bytes) {
  if (!v.is_string()) bad(std::string(field) + " must be a string, not " + type_name(v), "invalid_type");
  const auto& s = v.get_ref<const std::string&>();
  if (static_cast<int64_t>(s.size()) > max_bytes)
    bad(std::string(field) + " is " + std::to_string(s.size()) + " bytes, more than the server's limit of " +
        std::to_string(max_bytes));
  if (s.find('\0') != std::string::npos) bad(std::string(field) + " holds a NUL character: it is not text");
  return s;
}

// prompt: "text", [ids], ["text", ...] or [[ids], ...].
std::vector<Prompt> get_prompts(const json& v, const RequestLimits& limits) {
  if (v.is_string()) return {get_text(v, "prompt", limits.max_prompt_bytes)};
  if (!v.is_array()) bad("prompt must be a string, an array of token ids, or an array of either, not " + type_name(v),
                         "invalid_type");
  if (v.empty()) bad("prompt is an empty array: give text or at least one token id");
  if (v[0].is_number()) return {get_ids(v, "prompt", limits)};
  if (v.size() > static_cast<size_t>(limits.max_choices))
    bad("prompt holds " + std::to_string(v.size()) + " prompts, more than the server's " +
        std::to_string(limits.max_choices) + " choices per request");
  std::vector<Prompt> prompts;
  int64_t bytes = 0;
  for (const json& p : v) {
    if (p.is_string()) {
      prompts.push_back(get_text(p, "prompt", limits.max_prompt_bytes - bytes));
      bytes += static_cast<int64_t>(std::get<std::string>(prompts.back()).size());
    } else if (p.is_array() && !p.empty()) {
      prompts.push_back(get_ids(p, "prompt", limits));
    } else {
      bad("each prompt of an array must be a string or a non-empty array of token ids", "invalid_type");
    }
  }
  return prompts;
}

std::vector<std::string> get_stops(const json& v) {
  std::vector<std::string> stops;
  if (v.is_null()) return stops;
  if (v.is_string()) {
    stops.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.size() > 4) bad("stop holds " + std::to_string(v.size()) + " strings: at most 4");
    for (const json& s : v) {
      if (!s.is_string()) bad("stop must be a string or an array of strings", "invalid_type");
      stops.push_back(s.get<std::string>());
    }
  } else {
    bad("stop must be a string or an array of strings, not " + type_name(v), "invalid_type");
  }
  for (const auto& s : stops) {
    if (s.empty()) bad("stop holds an empty string: it would stop before the first token");
    if (s.size() > 256) bad("a stop string is " + std::to_string(s.size()) + " bytes: at most 256");
  }
  return stops;
}

// OpenAI fields we take but do not act on: accepted only at values that change nothing.
bool neutral_openai_field(const std::string& key, const json& v) {
  if (key == "user") return v.is_string() || v.is_null();
  if (key == "presence_penalty" || key == "frequency_penalty") {
    if (v.is_null()) return true;
    if (!v.is_number() || v.get<double>() != 0)
      bad(key + " is not supported (use repeat_penalty); only 0 is accepted", "unsupported_value");
    return true;
  }
  if (key == "logprobs" || key == "top_logprobs" || key == "suffix" || key == "logit_bias") {
    if (v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_object() && v.empty())) return true;
    bad(key + " is not supported by this server", "unsupported_value");
  }
  return false;
}

// Every field of a completion but the prompt (shared with chat).
void read_completion_field(CompletionRequest& r, const std::string& key, const json& v, const RequestLimits& limits,
                           bool& stream_options_given) {
  if (key == "max_tokens" || key == "max_completion_tokens" || key == "n_predict") {
    if (!v.is_null()) r.max_tokens = static_cast<int>(get_int(v, key.c_str(), -1, limits.max_tokens));
  } else if (key == "temperature") {
    if (!v.is_null()) r.sampler.temperature = get_number(v, "temperature");
  } else if (key == "top_p") {
    if (!v.is_null()) r.sampler.top_p = get_number(v, "top_p");
  } else if (key == "top_k") {
    if (!v.is_null()) r.sampler.top_k = static_cast<int>(get_int(v, "top_k", 0, INT32_MAX));
  } else if (key == "min_p") {
    if (!v.is_null()) r.sampler.min_p = get_number(v, "min_p");
  } else if (key == "repeat_penalty") {
    if (!v.is_null()) r.sampler.repeat_penalty = get_number(v, "repeat_penalty");
  } else if (key == "repeat_last_n") {
    if (!v.is_null()) r.sampler.repeat_last_n = static_cast<int>(get_int(v, "repeat_last_n", 0, limits.max_repeat_last_n));
  } else if (key == "n") {
    if (!v.is_null()) r.n = static_cast<int>(get_int(v, "n", 1, limits.max_choices));
  } else if (key == "best_of") {
    if (!v.is_null() && get_int(v, "best_of", 1, limits.max_choices) != r.n)
      bad("best_of is not supported (every choice is returned); leave it out or equal to n", "unsupported_value");
  } else if (key == "seed") {
    if (!v.is_null()) {
      const int64_t s = get_int(v, "seed", -1, INT64_MAX);
      r.seed = s < 0 ? std::nullopt : std::optional<uint64_t>(static_cast<uint64_t>(s));
    }
  } else if (key == "stop") {
    r.stop = get_stops(v);
  } else if (key == "stream") {
    if (!v.is_null()) r.stream = get_bool(v, "stream");
  } else if (key == "stream_options") {
    if (v.is_null()) return;
    if (!v.is_object()) bad("stream_options must be an object", "invalid_type");
    stream_options_given = true;
    for (const auto& [k, x] : v.items()) {
      if (k != "include_usage") bad("stream_options has an unknown field '" + k + "' (known: include_usage)", "unknown_field");
      r.include_usage = get_bool(x, "stream_options.include_usage");
    }
  } else if (key == "ignore_eos") {
    r.ignore_eos = get_bool(v, "ignore_eos");
  } else if (key == "echo") {
    r.echo = get_bool(v, "echo");
  } else if (key == "session") {
    if (v.is_null()) return;
    if (!v.is_string()) bad("session must be a string, not " + type_name(v), "invalid_type");
    r.session = v.get<std::string>();
    check_session_name(r.session);
  } else if (key == "model") {
    if (!v.is_string() && !v.is_null()) bad("model must be a string, not " + type_name(v), "invalid_type");
    if (v.is_string()) r.model = v.get<std::string>();
  } else if (!neutral_openai_field(key, v)) {
    bad("unknown field '" + key + "'", "unknown_field");
  }
}

// Rules across fields, once every field is read.
void check_completion(CompletionRequest& r, const RequestLimits& limits, bool stream_options_given) {
  try {
    r.sampler.validate();
  } catch (const Error& e) {
    bad(e.what());
  }
  const int64_t choices = static_cast<int64_t>(r.prompts.size()) * r.n;
  if (choices > limits.max_choices)
    bad(std::to_string(r.prompts.size()) + " prompts x n = " + std::to_string(r.n) + " is " + std::to_string(choices) +
        " choices, more than the server's " + std::to_string(limits.max_choices) + " per request");
  if (stream_options_given && !r.stream) bad("stream_options needs stream: true");
  if (r.max_tokens < 0 && r.ignore_eos) bad("max_tokens -1 runs until <|endoftext|>, which ignore_eos turns off");
  if (!r.session.empty() && choices != 1) bad("a session keeps one stream: give one prompt and n = 1");
  if (!r.session.empty() && r.echo) bad("echo is not supported with a session");
}

const json& object_body(const json& body) {
  if (!body.is_object()) bad("the request body must be a JSON object, not " + type_name(body), "invalid_type");
  return body;
}

}  // namespace

json parse_body(std::string_view body) {
  // Request bodies are shallow; deeper text is refused unread (nlohmann recurses per level).
  if (json_nesting_depth(body) > kMaxJsonDepth)
    bad("the request body nests arrays or objects more than " + std::to_string(kMaxJsonDepth) + " deep", "invalid_json");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) bad("the request body is not valid JSON", "invalid_json");
  return j;
}

void check_session_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.';
  for (const char c : name)
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                c == '.');
  if (!ok) bad("session name '" + name.substr(0, 80) + "' is not 1 to 64 of A-Z a-z 0-9 _ . - (not starting with '.')",
               "invalid_session_name");
}

CompletionRequest parse_completion(const json& body, const RequestLimits& limits) {
  CompletionRequest r;
  r.sampler = limits.sampler_defaults;
  r.max_tokens = limits.default_max_tokens;
  bool stream_options_given = false, has_prompt = false;
  for (const auto& [key, v] : object_body(body).items()) {
    if (key == "prompt") {
      r.prompts = get_prompts(v, limits);
      has_prompt = true;
    } else {
      read_completion_field(r, key, v, limits, stream_options_given);
    }
  }
  if (!has_prompt) bad("prompt is missing (text, or an array of token ids)", "missing_field");
  check_completion(r, limits, stream_options_given);
  return r;
}

ChatRequest parse_chat(const json& body, const RequestLimits& limits) {
  ChatRequest c;
  c.completion.sampler = limits.sampler_defaults;
  c.completion.max_tokens = limits.default_max_tokens;
  bool stream_options_given = false, has_messages = false;
  int64_t bytes = 0;
  for (const auto& [key, v] : object_body(body).items()) {
    if (key != "messages") {
      if (key == "prompt" || key == "echo") bad("unknown field '" + key + "' for a chat completion", "unknown_field");
      read_completion_field(c.completion, key, v, limits, stream_options_given);
      continue;
    }
    has_messages = true;
    if (!v.is_array() || v.empty()) bad("messages must be a non-empty array of {role, content}", "invalid_type");
    for (const json& m : v) {
      if (!m.is_object()) bad("each message must be an object {role, content}", "invalid_type");
      ChatMessage msg;
      for (const auto& [k, x] : m.items()) {
        if (k == "role") {
          if (!x.is_string()) bad("a message's role must be a string", "invalid_type");
          msg.role = x.get<std::string>();
        } else if (k == "content") {
          msg.content = get_text(x, "a message's content", limits.max_prompt_bytes - bytes);
          bytes += static_cast<int64_t>(msg.content.size());
        } else if (k != "name") {
          bad("a message has an unknown field '" + k + "' (known: role, content, name)", "unknown_field");
        }
      }
      if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
        bad("a message's role is '" + msg.role.substr(0, 40) + "': it must be system, user or assistant");
      c.messages.push_back(std::move(msg));
    }
  }
  if (!has_messages) bad("messages is missing", "missing_field");
  c.completion.prompts = {chat_prompt(c.messages)};
  check_completion(c.completion, limits, stream_options_given);
  return c;
}

std::string chat_prompt(const std::vector<ChatMessage>& messages) {
  std::string text;
  for (const ChatMessage& m : messages) {
    if (m.role == "system")
      text += m.content + "\n\n";
    else
      text += (m.role == "user" ? "User: " : "Assistant: ") + m.content + "\n";
  }
  return text + "Assistant:";
}

std::string parse_tokenize(const json& body, const RequestLimits& limits) {
  std::string content;
  bool has = false;
  for (const auto& [key, v] : object_body(body).items()) {
    if (key == "content") {
      content = get_text(v, "content", limits.max_prompt_bytes);
      has = true;
    } else if (key != "add_special" && key != "with_pieces") {
      bad("unknown field '" + key + "' (known: content)", "unknown_field");
    }
  }
  if (!has) bad("content is missing (the text to tokenize)", "missing_field");
  return content;
}

std::vector<int32_t> parse_detokenize(const json& body, const RequestLimits& limits) {
  std::vector<int32_t> ids;
  bool has = false;
  for (const auto& [key, v] : object_body(body).items()) {
    if (key != "tokens") bad("unknown field '" + key + "' (known: tokens)", "unknown_field");
    if (!v.is_array()) bad("tokens must be an array of token ids, not " + type_name(v), "invalid_type");
    ids = get_ids(v, "tokens", limits);
    has = true;
  }
  if (!has) bad("tokens is missing (an array of token ids)", "missing_field");
  return ids;
}

ExplainRequest parse_explain(const json& body, const RequestLimits& limits) {
  ExplainRequest r;
  bool has = false;
  for (const auto& [key, v] : object_body(body).items()) {
    if (key == "prompt") {
      std::vector<Prompt> p = get_prompts(v, limits);
      if (p.size() != 1) bad("explain takes one prompt");
      r.prompt = std::move(p[0]);
      has = true;
    } else if (key == "top") {
      r.top = static_cast<int>(get_int(v, "top", 1, 64));
    } else if (key != "model") {
      bad("unknown field '" + key + "' (known: prompt, top)", "unknown_field");
    }
  }
  if (!has) bad("prompt is missing (the text or token ids to explain)", "missing_field");
  return r;
}

}  // namespace mosaic::serve
