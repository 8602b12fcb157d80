// `mosaic serve`'s request bodies: JSON in, checked structs out, or an ApiError naming the field
// and its range (OpenAI's error object, with the HTTP status to send). Knows nothing of HTTP,
// the model or the tokenizer: a prompt stays text or token ids here, and the limits it is
// checked against come in `RequestLimits`. This is what fuzz/fuzz_serve_request.cpp feeds.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "infer/sampler.hpp"

namespace mosaic::serve {

// OpenAI's {"error": {"message", "type", "code"}} and the status it goes with.
struct ApiError {
  int status = 400;
  std::string message, type = "invalid_request_error", code;
  nlohmann::json to_json() const;
};

// Thrown by the parsers; the HTTP layer turns it into a response.
struct ApiException {
  ApiError error;
};

[[noreturn]] void fail(int status, const std::string& message, const std::string& code,
                       const std::string& type = "invalid_request_error");

// A prompt as the client sent it: text, or token ids (taken as they are, no <|endoftext|> added).
using Prompt = std::variant<std::string, std::vector<int32_t>>;

// What a request may ask for, from the server's flags and the model.
struct RequestLimits {
  int vocab_size = 50257;     // token ids must be below this
  int max_tokens = 1 << 16;   // per choice
  int max_choices = 16;       // n times the number of prompts
  int64_t max_prompt_bytes = int64_t{1} << 20;
  int max_prompt_tokens = 1 << 18;
  int max_repeat_last_n = 1024;  // sessions keep this much history for the repeat penalty
  SamplerConfig sampler_defaults;
  int default_max_tokens = 200;
};

// POST /v1/completions (and, after the chat template, /v1/chat/completions).
struct CompletionRequest {
  std::vector<Prompt> prompts;      // one or more; choices are prompt-major: prompt p, choice i
  int max_tokens = 0;               // per choice; -1: until <|endoftext|> (at most limits.max_tokens)
  int n = 1;                        // choices per prompt
  SamplerConfig sampler;
  std::optional<uint64_t> seed;     // choice k draws from seed + k
  std::vector<std::string> stop;    // at most 4, none empty
  bool stream = false, include_usage = false, ignore_eos = false, echo = false;
  std::string session;              // "": none; else the stream's memories are kept under this name
  std::string model;                // informative only: one model per server
};

// Checks a completion body. chat: the body of /v1/chat/completions (messages instead of prompt).
CompletionRequest parse_completion(const nlohmann::json& body, const RequestLimits& limits);

// A chat message and the plain template that turns a conversation into one prompt (docs/serve.md).
struct ChatMessage {
  std::string role, content;
};
struct ChatRequest {
  std::vector<ChatMessage> messages;
  CompletionRequest completion;  // everything else, as /v1/completions takes it
};
ChatRequest parse_chat(const nlohmann::json& body, const RequestLimits& limits);
// "System text\n\nUser: ...\nAssistant: ...\nUser: ...\nAssistant:" (docs/serve.md).
std::string chat_prompt(const std::vector<ChatMessage>& messages);
// Stops the chat template adds: the model starting the user's next turn.
inline const std::vector<std::string> kChatStops = {"\nUser:"};

// POST /tokenize {"content": text}; POST /detokenize {"tokens": [ids]}.
std::string parse_tokenize(const nlohmann::json& body, const RequestLimits& limits);
std::vector<int32_t> parse_detokenize(const nlohmann::json& body, const RequestLimits& limits);

// POST /v1/explain {"prompt": text or ids, "top": K}: the pairs each head retrieved.
struct ExplainRequest {
  Prompt prompt;
  int top = 3;
};
ExplainRequest parse_explain(const nlohmann::json& body, const RequestLimits& limits);

// A request body as JSON: an object, or ApiError 400 naming the parse error.
nlohmann::json parse_body(std::string_view body);

// Session names: 1 to 64 of [A-Za-z0-9_.-], not starting with '.' (they name files).
void check_session_name(const std::string& name);

}  // namespace mosaic::serve
