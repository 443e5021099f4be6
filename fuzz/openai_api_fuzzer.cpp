// Fuzz target: the OpenAI request parser (src/server/openai_api.*). Input: a request body, as the HTTP server
// hands it over; it is parsed once and validated as a chat and as a completion request.
//
// Oracle (openai_api.h): nothing throws or crashes; a rejected body gets a 400 invalid_request_error with a
// message, and its error JSON serialises (dump_json never throws) and parses back with that status' fields;
// an accepted request keeps the documented ranges (roles, max_tokens >= 1 (0 only with echo), n 1..16,
// top_logprobs 0..20 only with logprobs, temperature 0..2, top_p in (0, 1],
// at most 4 stop strings of 1..256 bytes, include_usage only when streamed, kvshare knobs in range).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "server/openai_api.h"

namespace {

using kvs::server::ApiError;
using kvs::server::ApiKind;
using kvs::server::CompletionRequest;
using nlohmann::json;

void check_error(const ApiError& e) {
  FUZZ_CHECK(e.http_status == 400, "request error with status " + std::to_string(e.http_status));
  FUZZ_CHECK(e.type == "invalid_request_error", "request error of type " + e.type);
  FUZZ_CHECK(!e.message.empty(), "request error without a message");
  const std::string wire = kvs::server::dump_json(kvs::server::error_json(e));
  const json back = json::parse(wire, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(back.is_object() && back.contains("error") && back["error"].is_object(), "error JSON does not parse back");
  FUZZ_CHECK(back["error"]["type"] == e.type, "error type lost on the wire");
}

void check_request(const CompletionRequest& r, ApiKind kind) {
  FUZZ_CHECK(r.kind == kind, "kind differs");
  if (kind == ApiKind::kChat) {
    FUZZ_CHECK(!r.messages.empty(), "chat request without messages accepted");
    for (const auto& m : r.messages)
      FUZZ_CHECK(m.role == "system" || m.role == "user" || m.role == "assistant", "message role '" + m.role + "'");
  } else {
    FUZZ_CHECK(r.messages.empty(), "completion request with messages");
    FUZZ_CHECK(r.prompt.empty() || r.prompt_tokens.empty(), "both a prompt text and prompt token ids");
    for (int32_t t : r.prompt_tokens) FUZZ_CHECK(t >= 0, "negative prompt token id accepted");
  }
  FUZZ_CHECK(!r.max_tokens || *r.max_tokens >= 1 || (*r.max_tokens == 0 && r.echo), "max_tokens < 1 accepted");
  FUZZ_CHECK(!r.echo || kind == ApiKind::kCompletion, "echo on a chat request");
  FUZZ_CHECK(r.n >= 1 && r.n <= 16, "n out of range");
  FUZZ_CHECK(r.top_logprobs >= 0 && r.top_logprobs <= 20 && (r.logprobs || r.top_logprobs == 0), "top_logprobs");
  FUZZ_CHECK(!r.cache_salt || (!r.cache_salt->empty() && r.cache_salt->size() <= 256), "cache_salt length");
  FUZZ_CHECK(r.sampling.temperature >= 0 && r.sampling.temperature <= 2, "temperature out of range");
  FUZZ_CHECK(r.sampling.top_p > 0 && r.sampling.top_p <= 1, "top_p out of range");
  FUZZ_CHECK(r.stop.size() <= 4, "more than 4 stop strings");
  for (const auto& s : r.stop) FUZZ_CHECK(!s.empty() && s.size() <= 256, "stop string of bad length");
  FUZZ_CHECK(!r.include_usage || r.stream, "include_usage without stream");
  FUZZ_CHECK(r.recompute_ratio == -1 || (r.recompute_ratio >= 0 && r.recompute_ratio <= 1), "recompute_ratio");
  FUZZ_CHECK(r.edit_window >= -1 && r.edit_window <= 4096 && r.edit_tail >= -1 && r.edit_tail <= 4096, "edit knobs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = kvs::server::parse_json_body(body);
  if (!parsed.is_ok()) {
    check_error(parsed.error());
    return 0;
  }
  FUZZ_CHECK(parsed.value().is_object(), "a body that is not an object was accepted");
  for (ApiKind kind : {ApiKind::kChat, ApiKind::kCompletion}) {
    auto req = kvs::server::parse_completion_request(parsed.value(), kind);
    if (req.is_ok()) check_request(req.value(), kind);
    else check_error(req.error());
  }
  return 0;
}
