#include "server/aux_api.h"

#include <algorithm>
#include <cstring>

#include "server/prompt.h"

namespace kvs::server {

namespace {
using nlohmann::json;

constexpr size_t kMaxEmbeddingInputs = 2048;  // as OpenAI

// A boolean field (absent or null: `dflt`); nullopt with *err set when it is not a boolean.
std::optional<bool> flag(const json& body, const char* key, bool dflt, ApiError* err) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) {
    *err = invalid_request(std::string("'") + key + "' must be a boolean", key);
    return std::nullopt;
  }
  return it->get<bool>();
}

json embedding_value(const std::vector<float>& v, bool base64) {
  if (!base64) return json(v);
  std::vector<uint8_t> bytes(v.size() * sizeof(float));  // (dim * 4) little-endian float32, as OpenAI
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return base64_encode(bytes);
}
}  // namespace

std::string base64_encode(std::span<const uint8_t> b) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((b.size() + 2) / 3 * 4);
  for (size_t i = 0; i < b.size(); i += 3) {
    const uint32_t n = (uint32_t{b[i]} << 16) | (i + 1 < b.size() ? uint32_t{b[i + 1]} << 8 : 0) |
                       (i + 2 < b.size() ? uint32_t{b[i + 2]} : 0);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < b.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < b.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

ApiResult<json> embeddings_response(const json& body, const share::Embedder* embedder,
                                    std::span<const std::string> model_ids) {
  if (!embedder)
    return ApiError{503, "This server has no sentence embedder loaded (start it with --embedder, without "
                         "--no-semantic).", "server_error", "", "embedder_unavailable"};
  KVS_CHECK(!model_ids.empty());
  if (auto m = body.find("model"); m != body.end() && !m->is_null()) {
    if (!m->is_string()) return invalid_request("'model' must be a string", "model");
    if (std::find(model_ids.begin(), model_ids.end(), m->get<std::string>()) == model_ids.end())
      return model_not_found(m->get<std::string>());
  }
  auto in = body.find("input");
  if (in == body.end() || in->is_null()) return invalid_request("'input' is required", "input");
  std::vector<std::string> texts;
  if (in->is_string()) {
    texts.push_back(in->get<std::string>());
  } else if (in->is_array() && !in->empty() && in->size() <= kMaxEmbeddingInputs) {
    for (size_t i = 0; i < in->size(); ++i) {
      if (!(*in)[i].is_string())
        return invalid_request("'input[" + std::to_string(i) + "]' must be a string (token-id inputs are not "
                               "supported: the embedder has its own vocabulary)", "input");
      texts.push_back((*in)[i].get<std::string>());
    }
  } else {
    return invalid_request("'input' must be a string or an array of 1.." + std::to_string(kMaxEmbeddingInputs) +
                           " strings", "input");
  }
  for (size_t i = 0; i < texts.size(); ++i)
    if (texts[i].empty()) return invalid_request("'input' must not contain empty strings", "input");
  bool base64 = false;
  if (auto f = body.find("encoding_format"); f != body.end() && !f->is_null()) {
    if (!f->is_string() || (*f != "float" && *f != "base64"))
      return invalid_request("'encoding_format' must be 'float' or 'base64'", "encoding_format");
    base64 = *f == "base64";
  }
  if (auto d = body.find("dimensions"); d != body.end() && !d->is_null())
    if (!d->is_number_integer() || d->get<int64_t>() != embedder->dim())
      return invalid_request("'dimensions' must be " + std::to_string(embedder->dim()) + " (this embedder's)",
                             "dimensions");
  int64_t n_tokens = 0;
  for (const std::string& t : texts) {
    auto ids = embedder->tokenize(t);
    if (!ids.is_ok()) return invalid_request(ids.status().message(), "input");
    n_tokens += static_cast<int64_t>(ids.value().size());
  }
  auto vecs = embedder->embed_batch(texts);
  if (!vecs.is_ok()) return invalid_request(vecs.status().message(), "input");
  json data = json::array();
  for (size_t i = 0; i < vecs.value().size(); ++i)
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", embedding_value(vecs.value()[i], base64)}});
  return json{{"object", "list"}, {"data", std::move(data)}, {"model", model_ids.front()},
              {"usage", {{"prompt_tokens", n_tokens}, {"total_tokens", n_tokens}}}};
}

ApiResult<json> tokenize_response(const json& body, const tok::Tokenizer& tokenizer, const tok::ChatTemplate* chat_template,
                                  int64_t max_context) {
  ApiError err;
  const auto add_special = flag(body, "add_special_tokens", true, &err);
  const auto pieces = flag(body, "with_pieces", false, &err);
  const auto strs = flag(body, "return_token_strs", false, &err);
  if (!add_special || !pieces || !strs) return err;
  std::vector<int32_t> ids;
  if (body.contains("messages")) {
    json chat = {{"messages", body["messages"]}};
    auto req = parse_completion_request(chat, ApiKind::kChat);
    if (!req.is_ok()) return req.error();
    auto r = build_prompt_tokens(req.value(), tokenizer, chat_template);
    if (!r.is_ok()) return r.error();
    ids = std::move(r).value();
  } else {
    const char* key = body.contains("prompt") ? "prompt" : "content";
    auto p = body.find(key);
    if (p == body.end() || !p->is_string())
      return invalid_request("'prompt' (or 'content', or 'messages') must be given; 'prompt' must be a string", key);
    auto r = tokenizer.encode(p->get<std::string>(), /*parse_special=*/true);
    if (!r.is_ok()) return invalid_request(r.status().message(), key);
    ids = std::move(r).value();
    if (*add_special && tokenizer.add_bos() && tokenizer.bos() >= 0 && (ids.empty() || ids.front() != tokenizer.bos()))
      ids.insert(ids.begin(), tokenizer.bos());
  }
  json out = {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", max_context}};
  if (*pieces || *strs) {
    json s = json::array();
    for (int32_t id : ids) s.push_back(tokenizer.token_to_piece(id));
    out["token_strs"] = std::move(s);
  }
  return out;
}

ApiResult<json> detokenize_response(const json& body, const tok::Tokenizer& tokenizer) {
  auto t = body.find("tokens");
  if (t == body.end() || !t->is_array()) return invalid_request("'tokens' must be an array of token ids", "tokens");
  std::vector<int32_t> ids;
  for (size_t i = 0; i < t->size(); ++i) {
    const json& v = (*t)[i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= tokenizer.n_vocab())
      return invalid_request("'tokens[" + std::to_string(i) + "]' must be a token id in [0, " +
                             std::to_string(tokenizer.n_vocab()) + ")", "tokens");
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  const std::string text = tokenizer.decode(ids);
  return json{{"prompt", text}, {"content", text}};
}

}  // namespace kvs::server
