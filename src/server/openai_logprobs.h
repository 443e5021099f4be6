// OpenAI's logprobs objects, from tokens already turned into text (the HTTP server decodes the ids).
//   chat:        {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}],
//                 "refusal": null}
//   completions: {"tokens": [...], "token_logprobs": [...], "top_logprobs": [{token: logprob}, ...],
//                 "text_offset": [...]}; an echoed prompt's first token has null logprob and null top_logprobs
//                 (nothing precedes it), as in OpenAI's legacy API.
// Invariants: one entry per token, in order; "bytes" are the token's raw bytes (a token may end inside a UTF-8
// character: its "token" string then carries U+FFFD where the bytes are incomplete); text_offset[i] is the byte
// offset of token i in the choice's text, starting at the caller's offset.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace kvs::server {

struct LogprobToken {
  std::string token;                                  // the token's raw bytes
  std::optional<float> logprob;                       // nullopt: an echoed prompt's first token
  std::vector<std::pair<std::string, float>> top;     // (raw bytes, logprob), best first
};

nlohmann::json chat_logprobs_json(std::span<const LogprobToken> tokens);
nlohmann::json completion_logprobs_json(std::span<const LogprobToken> tokens, int64_t text_offset);

}  // namespace kvs::server
