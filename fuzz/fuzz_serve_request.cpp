// Fuzzes mosaic serve's request parser (src/serve/request.hpp) on arbitrary bodies: parse_body,
// then every endpoint's parser on the same JSON. A body may be refused only by an ApiException
// with a 4xx status and a message; what is accepted must hold the limits it was checked against
// (token ids in the vocabulary, choices, stop strings, a valid sampler, a session name the files
// can carry). Not a fuzzer of cpp-httplib.
#include <cstdint>
#include <string_view>
#include <variant>

#include "fuzz_common.hpp"
#include "serve/request.hpp"

using namespace mosaic;
using namespace mosaic::serve;

namespace {

const RequestLimits kLimits = [] {
  RequestLimits l;
  l.max_prompt_bytes = 2048;
  l.max_prompt_tokens = 512;
  return l;
}();

void check_prompt(const Prompt& p) {
  if (const auto* ids = std::get_if<std::vector<int32_t>>(&p)) {
    FUZZ_ASSERT(ids->size() <= static_cast<size_t>(kLimits.max_prompt_tokens), "too many prompt tokens accepted");
    for (const int32_t id : *ids) FUZZ_ASSERT(id >= 0 && id < kLimits.vocab_size, "a token id outside the vocabulary");
  } else {
    FUZZ_ASSERT(std::get<std::string>(p).size() <= static_cast<size_t>(kLimits.max_prompt_bytes), "a prompt too long");
  }
}

void check_completion(const CompletionRequest& r) {
  FUZZ_ASSERT(!r.prompts.empty(), "a completion without a prompt");
  for (const Prompt& p : r.prompts) check_prompt(p);
  FUZZ_ASSERT(r.n >= 1 && static_cast<int64_t>(r.prompts.size()) * r.n <= kLimits.max_choices, "too many choices");
  FUZZ_ASSERT(r.max_tokens >= -1 && r.max_tokens <= kLimits.max_tokens, "max_tokens out of range");
  FUZZ_ASSERT(r.stop.size() <= 4, "more than 4 stop strings");
  for (const auto& s : r.stop) FUZZ_ASSERT(!s.empty(), "an empty stop string");
  try {
    r.sampler.validate();
  } catch (const Error& e) {
    FUZZ_ASSERT(false, std::string("an invalid sampler accepted: ") + e.what());
  }
  if (!r.session.empty()) check_session_name(r.session);  // throws if a bad name got through
}

template <class F>
void refusal_is_a_4xx(F parse) {
  try {
    parse();
  } catch (const ApiException& e) {
    FUZZ_ASSERT(e.error.status >= 400 && e.error.status < 500 && !e.error.message.empty(), "a refusal without a 4xx");
    (void)e.error.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  nlohmann::json j;
  try {
    j = parse_body(body);
  } catch (const ApiException& e) {
    FUZZ_ASSERT(e.error.status == 400, "unparsable JSON must be a 400");
    return 0;
  }
  refusal_is_a_4xx([&] { check_completion(parse_completion(j, kLimits)); });
  refusal_is_a_4xx([&] {
    const ChatRequest c = parse_chat(j, kLimits);
    FUZZ_ASSERT(!c.messages.empty(), "a chat without messages");
    check_completion(c.completion);
  });
  refusal_is_a_4xx([&] { FUZZ_ASSERT(parse_tokenize(j, kLimits).size() <= 2048, "content too long"); });
  refusal_is_a_4xx([&] { check_prompt(parse_detokenize(j, kLimits)); });
  refusal_is_a_4xx([&] {
    const ExplainRequest e = parse_explain(j, kLimits);
    check_prompt(e.prompt);
    FUZZ_ASSERT(e.top >= 1 && e.top <= 64, "top out of range");
  });
  return 0;
}
