// The OpenAI wire format: parsing and validating /v1/chat/completions and /v1/completions bodies, and building
// the response, stream-chunk, usage and error JSON. Pure functions (no engine, no sockets, no clock): the HTTP
// server supplies ids and timestamps, so every rule here is unit-tested.
//
// Validation follows OpenAI: a known field of the wrong type or a value out of range is a 400 with
// {"error": {"message", "type": "invalid_request_error", "param": <field>, "code"}}; null counts as absent.
// Tolerance: an unknown top-level field is ignored and listed in CompletionRequest::ignored_fields (the server
// logs each name once and returns them in the x-kvshare-ignored-fields header), so clients written for other
// servers work. Fields whose silent omission would change the answer are accepted only at their neutral value
// (frequency_penalty 0, presence_penalty 0, logit_bias {}, response_format text, no tools, best_of 1, and the
// other servers' sampling / guided-decoding fields in kAnswerChanging: min_tokens, stop_token_ids, guided_json,
// ...): anything else is a 400 rather than a silently different answer. Nested objects (messages, content parts,
// stream_options, kvshare) stay strict: an unknown key there is a 400.
// logprobs: chat {"logprobs": true, "top_logprobs": 0..20}; completions {"logprobs": 0..20, "echo": bool}
// (echo with max_tokens 0 scores the prompt only). n: 1..16 choices. cache_salt (vLLM): a string that narrows
// the tenant's share domain when the operator allows it (the server checks; it can never widen a domain).
//
// Defaults (as OpenAI): temperature 1, top_p 1, no stop strings, not streamed. max_tokens: when absent the server
// uses min(limits.default_max_tokens, context left after the prompt); a max_tokens beyond the context left is
// clamped by the engine (finish_reason "length"). Extensions accepted as in vLLM: top_k, min_p,
// repetition_penalty, ignore_eos.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "engine/request.h"
#include "engine/sampler.h"
#include "server/openai_logprobs.h"
#include "tokenizer/chat_template.h"

namespace kvs::server {

enum class ApiKind { kChat, kCompletion };

// An OpenAI error response: HTTP status and the body's fields ("" renders as null for param and code).
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;
  std::string code;
};

ApiError invalid_request(std::string message, std::string param = "", std::string code = "");
ApiError model_not_found(const std::string& model);                    // 404 model_not_found
ApiError invalid_api_key(bool key_given);                              // 401 invalid_api_key
ApiError queue_full(const std::string& detail);                        // 429 rate_limit_exceeded
ApiError shutting_down();                                              // 503
ApiError internal_error(const std::string& detail);                    // 500
ApiError body_too_large(int64_t limit_bytes);                          // 413
ApiError context_length_exceeded(int64_t prompt_tokens, int64_t max_context, const std::string& param);

// A value or an ApiError (the HTTP layer's Result<T>).
template <typename T>
class ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT
  bool is_ok() const { return std::holds_alternative<T>(v_); }
  const ApiError& error() const { return std::get<ApiError>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }

 private:
  std::variant<T, ApiError> v_;
};

struct CompletionRequest {
  ApiKind kind = ApiKind::kChat;
  std::string model;                        // "" when the client named none (then the served model is used)
  std::vector<tok::ChatMessage> messages;   // chat; "developer" is mapped to "system", text parts joined by "\n"
  std::string prompt;                       // completions: prompt text ...
  std::vector<int32_t> prompt_tokens;       // ... or prompt token ids (then prompt is empty)
  std::optional<int32_t> max_tokens;        // max_completion_tokens wins over max_tokens when both are given
  engine::SamplingParams sampling;          // temperature defaults to 1 (OpenAI); top_p 0 means greedy
  std::optional<uint64_t> seed;             // absent: the server draws one (so unseeded requests differ)
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool stream = false;
  bool include_usage = false;               // stream_options.include_usage
  std::string user;
  // kvshare extension: "kvshare": {"report": bool, "mode": "auto|full|prefix|semantic|naive",
  // "recompute_ratio": 0..1, "deviation": "kv|attn-v", "edit_window": 0..4096, "edit_tail": 0..4096, "donate": bool}. The share
  // domain is never the client's to choose.
  bool share_report = false;
  engine::ShareMode share_mode = engine::ShareMode::kAuto;
  double recompute_ratio = -1;
  std::optional<share::DeviationScorer> deviation;
  int32_t edit_window = -1, edit_tail = -1;  // edit-aware selection (< 0: the server's default)
  bool donate = true;  // "kvshare": {"donate": false}: this prompt never becomes a donor (it can only opt out)
  int32_t n = 1;                            // choices
  bool logprobs = false;                    // return the sampled tokens' log-probabilities
  int32_t top_logprobs = 0;                 // ... and this many alternatives per token
  bool echo = false;                        // completions: the prompt is returned before the completion
  std::optional<std::string> cache_salt;    // vLLM: narrows the share domain (if the tenant may)
  std::vector<std::string> ignored_fields;  // unknown top-level fields, ignored (sorted by name)
};

// Parses a request body: it must be valid UTF-8 (checked on the raw bytes, naming the offset) and one JSON object.
ApiResult<nlohmann::json> parse_json_body(std::string_view body);

// Validates a parsed body for the endpoint `kind`.
ApiResult<CompletionRequest> parse_completion_request(const nlohmann::json& body, ApiKind kind);

// Identity and time of one response; every chunk of a stream repeats them.
struct ResponseMeta {
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;
  bool share_report = false;  // add the "kvshare" sharing report to the final response / chunk
};

// OpenAI's finish_reason for the engine's ("stop", "length"); anything else is reported as "stop".
std::string openai_finish_reason(std::string_view engine_reason);

nlohmann::json usage_json(const engine::Usage& usage);
// The "kvshare" sharing report: mode, donor similarity, edit script, reused / recomputed / total prompt tokens.
nlohmann::json share_report_json(const engine::ShareReport& report);
nlohmann::json error_json(const ApiError& error);

// Non-streaming responses: one choice per entry (index = position).
struct ChoiceOutput {
  std::string text;                                  // completions with echo: the prompt text first
  std::string finish_reason;                         // OpenAI's
  std::optional<std::vector<LogprobToken>> logprobs;  // requested: every token of text (echo: prompt first)
};
nlohmann::json chat_completion_json(const ResponseMeta& meta, std::span<const ChoiceOutput> choices,
                                    const engine::Usage& usage);
nlohmann::json text_completion_json(const ResponseMeta& meta, std::span<const ChoiceOutput> choices,
                                    const engine::Usage& usage);
// One choice without logprobs.
nlohmann::json chat_completion_json(const ResponseMeta& meta, std::string_view text, std::string_view finish_reason,
                                    const engine::Usage& usage);
nlohmann::json text_completion_json(const ResponseMeta& meta, std::string_view text, std::string_view finish_reason,
                                    const engine::Usage& usage);

// Stream chunks. A chat stream opens with a chunk whose delta is {"role": "assistant", "content": ""}, carries
// one {"content": ...} delta per text piece, and closes with an empty delta and the finish_reason. With
// include_usage every chunk has "usage": null and a last chunk has empty choices and the usage (as OpenAI).
struct ChunkDelta {
  bool role = false;                         // chat: announce the assistant role
  std::optional<std::string> text;           // content delta (chat) or text (completions)
  std::optional<std::string> finish_reason;  // set on the closing chunk
  int32_t index = 0;                         // the choice (n > 1)
  std::optional<std::vector<LogprobToken>> logprobs;  // the tokens behind this chunk's text, when requested
  int64_t text_offset = 0;                   // completions: byte offset of this chunk's text in the choice's text
};
nlohmann::json stream_chunk_json(ApiKind kind, const ResponseMeta& meta, const ChunkDelta& delta, bool include_usage);
nlohmann::json usage_chunk_json(ApiKind kind, const ResponseMeta& meta, const engine::Usage& usage);

// GET /v1/models and /v1/models/{id}.
// max_model_len (vLLM's field): the context in tokens; 0 leaves it out.
nlohmann::json model_json(const std::string& id, int64_t created, int64_t max_model_len = 0);
nlohmann::json models_list_json(const std::string& id, int64_t created, int64_t max_model_len = 0);

// Serialises JSON for the wire. Never throws: any invalid UTF-8 in strings is replaced by U+FFFD.
std::string dump_json(const nlohmann::json& j);
// One server-sent event: "data: <json>\n\n".
std::string sse_data(const nlohmann::json& j);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace kvs::server
