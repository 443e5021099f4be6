// The API routes besides completions: pure functions from a parsed JSON body to the response JSON (or an
// OpenAI error), unit-testable without sockets.
//
//   POST /v1/embeddings   OpenAI: {"input": str | [str], "model", "encoding_format": "float" | "base64",
//                         "dimensions" (only the embedder's), "user"} -> {"object": "list", "data": [{"object":
//                         "embedding", "index", "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}.
//                         The sentence embedder the server already loaded for semantic sharing; a text longer than
//                         its window (Embedder::max_tokens(): 256 WordPiece tokens for all-MiniLM-L6-v2) is truncated to it, as
//                         sentence-transformers does;
//                         usage counts the WordPiece tokens embedded. Token-id inputs are a 400 (the embedder has
//                         its own vocabulary).
//   POST /tokenize        vLLM {"prompt"} or {"messages"} (chat template applied), llama.cpp {"content"};
//                         "add_special_tokens" (default true: BOS as the model wants it), "with_pieces" /
//                         "return_token_strs" -> {"tokens", "count", "max_model_len"[, "token_strs"]}.
//   POST /detokenize      {"tokens": [ids]} -> {"prompt": text, "content": text} (vLLM's and llama.cpp's names).
// Unknown fields are ignored here (these routes cannot silently change an answer through one).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "server/openai_api.h"
#include "share/embedder/embedder.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace kvs::server {

// model_ids: the names a request may give (the embedder's id, the served model's); the response names the first.
ApiResult<nlohmann::json> embeddings_response(const nlohmann::json& body, const share::Embedder* embedder,
                                              std::span<const std::string> model_ids);
ApiResult<nlohmann::json> tokenize_response(const nlohmann::json& body, const tok::Tokenizer& tokenizer,
                                            const tok::ChatTemplate* chat_template, int64_t max_context);
ApiResult<nlohmann::json> detokenize_response(const nlohmann::json& body, const tok::Tokenizer& tokenizer);

// RFC 4648 base64 with padding.
std::string base64_encode(std::span<const uint8_t> bytes);

}  // namespace kvs::server
