#include "server/openai_api.h"

#include <cmath>
#include <limits>
#include <set>

#include "tokenizer/utf8.h"

namespace kvs::server {

namespace {

using nlohmann::json;

constexpr size_t kMaxStopStrings = 4;  // as OpenAI
constexpr size_t kMaxStopBytes = 256;

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_float: return "a number";
    default: return "an integer";
  }
}

// Typed access to the top-level fields of a request body; the first problem wins. Remembers which fields were
// asked for so unknown() can name a field nobody reads.
class FieldReader {
 public:
  explicit FieldReader(const json& body) : body_(body) {}

  const json* get(const char* key) {
    known_.insert(key);
    auto it = body_.find(key);
    return it == body_.end() || it->is_null() ? nullptr : &*it;
  }
  bool has(const char* key) { return get(key) != nullptr; }

  void fail(ApiError e) {
    if (!error_) error_ = std::move(e);
  }
  void wrong_type(const char* key, const char* expected, const json& v) {
    fail(invalid_request(std::string("'") + key + "' must be " + expected + ", not " + type_name(v), key));
  }

  std::optional<bool> boolean(const char* key) {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) return wrong_type(key, "a boolean", *v), std::nullopt;
    return v->get<bool>();
  }

  std::optional<double> number(const char* key, double lo, double hi) {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) return wrong_type(key, "a number", *v), std::nullopt;
    const double x = v->get<double>();
    if (!(x >= lo && x <= hi)) {
      fail(invalid_request("'" + std::string(key) + "' must be between " + fmt(lo) + " and " + fmt(hi) + ", got " + v->dump(),
                           key));
      return std::nullopt;
    }
    return x;
  }

  std::optional<int64_t> integer(const char* key, int64_t lo, int64_t hi) {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) return wrong_type(key, "an integer", *v), std::nullopt;
    const bool too_big =
        v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    const int64_t x = too_big ? std::numeric_limits<int64_t>::max() : v->get<int64_t>();
    if (too_big || x < lo || x > hi) {
      fail(invalid_request("'" + std::string(key) + "' must be between " + std::to_string(lo) + " and " +
                               std::to_string(hi) + ", got " + v->dump(),
                           key));
      return std::nullopt;
    }
    return x;
  }

  std::optional<std::string> string(const char* key) {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) return wrong_type(key, "a string", *v), std::nullopt;
    return v->get<std::string>();
  }

  // A field we accept only at its neutral value (`neutral(v)` true).
  template <typename Pred>
  void neutral_only(const char* key, const char* what, Pred neutral) {
    const json* v = get(key);
    if (v && !neutral(*v)) fail(invalid_request("'" + std::string(key) + "' is not supported by this server (" + what + ")", key));
  }

  // Top-level fields nobody read: ignored and named (they cannot change the answer: every field that could is
  // read above, by its own rule or by the answer-changing table).
  std::vector<std::string> unknown() const {
    std::vector<std::string> out;
    for (auto it = body_.begin(); it != body_.end(); ++it)
      if (!known_.count(it.key())) out.push_back(it.key());
    return out;
  }

  const std::optional<ApiError>& error() const { return error_; }

 private:
  static std::string fmt(double x) {
    json j = x;
    return j.dump();
  }
  const json& body_;
  std::set<std::string> known_;
  std::optional<ApiError> error_;
};

bool is_zero_number(const json& v) { return v.is_number() && v.get<double>() == 0.0; }

constexpr int64_t kMaxChoices = 16;      // n
constexpr int64_t kMaxTopLogprobs = 20;  // as OpenAI's top_logprobs (and vLLM's default max_logprobs)

// Fields of other servers (vLLM, llama.cpp, newer OpenAI APIs) whose silent omission would change the answer:
// accepted only at their neutral value, else a 400 (every other unknown field is ignored and named).
struct AnswerChangingField {
  const char* name;
  const char* neutral_text;
  bool (*neutral)(const json&);
};
bool empty_array(const json& v) { return v.is_array() && v.empty(); }
bool is_false(const json& v) { return v.is_boolean() && !v.get<bool>(); }
bool is_true(const json& v) { return v.is_boolean() && v.get<bool>(); }
bool is_one(const json& v) { return v.is_number() && v.get<double>() == 1.0; }
bool never(const json&) { return false; }  // any non-null value changes the answer
constexpr AnswerChangingField kAnswerChanging[] = {
    {"min_tokens", "only 0", is_zero_number},
    {"stop_token_ids", "only []", empty_array},
    {"bad_words", "only []", empty_array},
    {"allowed_token_ids", "only null", never},
    {"use_beam_search", "only false", is_false},
    {"length_penalty", "only 1", is_one},
    {"typical_p", "only 1", is_one},
    {"prompt_logprobs", "only null (use echo with logprobs)", never},
    {"include_stop_str_in_output", "only false", is_false},
    {"skip_special_tokens", "only true", is_true},
    {"truncate_prompt_tokens", "only null", never},
    {"logits_processors", "only null", never},
    {"structured_outputs", "only null", never},
    {"guided_json", "only null", never},
    {"guided_regex", "only null", never},
    {"guided_choice", "only null", never},
    {"guided_grammar", "only null", never},
    {"grammar", "only null", never},
    {"json_schema", "only null", never},
    {"chat_template", "only null", never},
    {"chat_template_kwargs", "only null", never},
    {"add_generation_prompt", "only true", is_true},
    {"continue_final_message", "only false", is_false},
    {"add_special_tokens", "only false", is_false},
    {"documents", "only null", never},
    {"mirostat", "only 0", is_zero_number},
    {"dry_multiplier", "only 0", is_zero_number},
    {"xtc_probability", "only 0", is_zero_number},
    {"n_probs", "only 0 (use logprobs)", is_zero_number},
    {"audio", "only null", never},
    {"web_search_options", "only null", never},
};

// messages[i].content: a string, or an array of {"type": "text", "text": ...} parts joined by "\n".
std::optional<ApiError> parse_content(const json& c, const std::string& param, std::string& out) {
  if (c.is_string()) {
    out = c.get<std::string>();
    return std::nullopt;
  }
  if (!c.is_array()) return invalid_request("'" + param + "' must be a string or an array of content parts", param);
  out.clear();
  for (size_t k = 0; k < c.size(); ++k) {
    const json& part = c[k];
    const std::string pp = param + "[" + std::to_string(k) + "]";
    if (!part.is_object()) return invalid_request("'" + pp + "' must be an object", pp);
    auto t = part.find("type");
    if (t == part.end() || !t->is_string()) return invalid_request("'" + pp + ".type' must be a string", pp + ".type");
    if (t->get<std::string>() != "text")
      return invalid_request("content parts of type '" + t->get<std::string>() + "' are not supported (only 'text')",
                             pp + ".type");
    auto text = part.find("text");
    if (text == part.end() || !text->is_string()) return invalid_request("'" + pp + ".text' must be a string", pp + ".text");
    for (auto it = part.begin(); it != part.end(); ++it)
      if (it.key() != "type" && it.key() != "text")
        return invalid_request("Unrecognized argument supplied: " + pp + "." + it.key(), pp + "." + it.key());
    if (k > 0) out += "\n";
    out += text->get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> parse_messages(const json& msgs, std::vector<tok::ChatMessage>& out) {
  if (!msgs.is_array()) return invalid_request("'messages' must be an array, not " + type_name(msgs), "messages");
  if (msgs.empty()) return invalid_request("'messages' must contain at least one message", "messages");
  for (size_t i = 0; i < msgs.size(); ++i) {
    const json& m = msgs[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return invalid_request("'" + p + "' must be an object, not " + type_name(m), p);
    tok::ChatMessage cm;
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return invalid_request("'" + p + ".role' must be a string", p + ".role");
    cm.role = role->get<std::string>();
    if (cm.role == "developer") cm.role = "system";
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant")
      return invalid_request("'" + p + ".role' must be one of 'system', 'developer', 'user', 'assistant', got '" +
                                 role->get<std::string>() + "' (tool and function messages are not supported)",
                             p + ".role");
    for (auto it = m.begin(); it != m.end(); ++it) {
      const std::string& k = it.key();
      if (k == "role" || k == "content" || (k == "name" && (it->is_string() || it->is_null()))) continue;
      if ((k == "tool_calls" && (it->is_null() || (it->is_array() && it->empty()))) || (k == "refusal" && it->is_null()))
        continue;
      if (k == "name") return invalid_request("'" + p + ".name' must be a string", p + ".name");
      return invalid_request("'" + p + "." + k + "' is not supported by this server", p + "." + k);
    }
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      if (cm.role != "assistant") return invalid_request("'" + p + ".content' is required", p + ".content");
    } else if (auto e = parse_content(*content, p + ".content", cm.content)) {
      return e;
    }
    out.push_back(std::move(cm));
  }
  return std::nullopt;
}

// completions "prompt": a string, an array holding one string, or an array of token ids.
std::optional<ApiError> parse_prompt(const json& p, CompletionRequest& req) {
  if (p.is_string()) {
    req.prompt = p.get<std::string>();
    return std::nullopt;
  }
  if (p.is_array() && p.size() == 1 && p[0].is_string()) {
    req.prompt = p[0].get<std::string>();
    return std::nullopt;
  }
  if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
    for (const json& t : p) {
      const bool in_range = t.is_number_unsigned()  ? t.get<uint64_t>() <= INT32_MAX
                            : t.is_number_integer() ? t.get<int64_t>() >= 0 && t.get<int64_t>() <= INT32_MAX
                                                    : false;
      if (!in_range) return invalid_request("'prompt' as token ids must be an array of non-negative integers", "prompt");
      req.prompt_tokens.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    return std::nullopt;
  }
  if (p.is_array() && p.size() > 1)
    return invalid_request("batched prompts are not supported: send one prompt per request", "prompt");
  return invalid_request("'prompt' must be a string, an array with one string, or an array of token ids", "prompt");
}

std::optional<ApiError> parse_stop(const json& s, std::vector<std::string>& out) {
  auto add = [&](const json& v, const std::string& param) -> std::optional<ApiError> {
    if (!v.is_string()) return invalid_request("'" + param + "' must be a string", param);
    std::string x = v.get<std::string>();
    if (x.empty()) return invalid_request("'" + param + "' must not be empty", param);
    if (x.size() > kMaxStopBytes)
      return invalid_request("'" + param + "' is longer than " + std::to_string(kMaxStopBytes) + " bytes", param);
    out.push_back(std::move(x));
    return std::nullopt;
  };
  if (s.is_string()) return add(s, "stop");
  if (!s.is_array()) return invalid_request("'stop' must be a string or an array of strings", "stop");
  if (s.size() > kMaxStopStrings)
    return invalid_request("'stop' may hold at most " + std::to_string(kMaxStopStrings) + " sequences", "stop");
  for (size_t i = 0; i < s.size(); ++i)
    if (auto e = add(s[i], "stop[" + std::to_string(i) + "]")) return e;
  return std::nullopt;
}

json with_usage_null(json chunk, bool include_usage) {
  if (include_usage) chunk["usage"] = nullptr;
  return chunk;
}

const char* object_name(ApiKind kind, bool chunk) {
  if (kind == ApiKind::kChat) return chunk ? "chat.completion.chunk" : "chat.completion";
  return "text_completion";
}

}  // namespace

ApiError invalid_request(std::string message, std::string param, std::string code) {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

ApiError model_not_found(const std::string& model) {
  return ApiError{404, "The model `" + model + "` does not exist or you do not have access to it.",
                  "invalid_request_error", "model", "model_not_found"};
}

ApiError invalid_api_key(bool key_given) {
  return ApiError{401,
                  key_given ? "Incorrect API key provided."
                            : "You didn't provide an API key. You need to provide your API key in an Authorization "
                              "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                  "invalid_request_error", "", "invalid_api_key"};
}

ApiError queue_full(const std::string& detail) {
  return ApiError{429, "The server is busy: " + detail + ". Retry later.", "rate_limit_error", "", "rate_limit_exceeded"};
}

ApiError shutting_down() {
  return ApiError{503, "The server is shutting down.", "server_error", "", "service_unavailable"};
}

ApiError internal_error(const std::string& detail) { return ApiError{500, detail, "server_error", "", ""}; }

ApiError body_too_large(int64_t limit_bytes) {
  return ApiError{413, "The request body is larger than this server accepts (" + std::to_string(limit_bytes) + " bytes).",
                  "invalid_request_error", "", "request_too_large"};
}

ApiError context_length_exceeded(int64_t prompt_tokens, int64_t max_context, const std::string& param) {
  return invalid_request("This model's maximum context length is " + std::to_string(max_context) +
                             " tokens. However, your prompt has " + std::to_string(prompt_tokens) +
                             " tokens (at least one token must be left to generate).",
                         param, "context_length_exceeded");
}

ApiResult<json> parse_json_body(std::string_view body) {
  if (Status s = tok::validate_utf8(body); !s.is_ok())
    return invalid_request("The request body is not valid UTF-8: " + s.message(), "", "invalid_encoding");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    return invalid_request(std::string("The request body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) return invalid_request("The request body must be a JSON object, not " + type_name(j), "", "invalid_json");
  return j;
}

ApiResult<CompletionRequest> parse_completion_request(const json& body, ApiKind kind) {
  if (!body.is_object()) return invalid_request("The request body must be a JSON object");
  CompletionRequest req;
  req.kind = kind;
  req.sampling.temperature = 1.0f;  // OpenAI's default
  FieldReader f(body);

  if (auto m = f.string("model")) req.model = *m;
  if (kind == ApiKind::kChat) {
    const json* msgs = f.get("messages");
    if (!msgs) return invalid_request("'messages' is required", "messages");
    if (auto e = parse_messages(*msgs, req.messages)) return *e;
  } else {
    const json* p = f.get("prompt");
    if (!p) return invalid_request("'prompt' is required", "prompt");
    if (auto e = parse_prompt(*p, req)) return *e;
  }

  constexpr int64_t kMaxTok = std::numeric_limits<int32_t>::max();
  if (auto n = f.integer("max_tokens", kind == ApiKind::kCompletion ? 0 : 1, kMaxTok)) req.max_tokens = static_cast<int32_t>(*n);
  if (kind == ApiKind::kChat)
    if (auto n = f.integer("max_completion_tokens", 1, kMaxTok)) req.max_tokens = static_cast<int32_t>(*n);
  if (auto t = f.number("temperature", 0, 2)) req.sampling.temperature = static_cast<float>(*t);
  if (auto p = f.number("top_p", 0, 1)) {
    if (*p == 0) req.sampling.temperature = 0;  // the nucleus of mass 0 is the most likely token
    else req.sampling.top_p = static_cast<float>(*p);
  }
  if (const json* s = f.get("seed")) {
    if (!s->is_number_integer()) f.wrong_type("seed", "an integer", *s);
    else req.seed = s->is_number_unsigned() ? s->get<uint64_t>() : static_cast<uint64_t>(s->get<int64_t>());
  }
  if (const json* s = f.get("stop"))
    if (auto e = parse_stop(*s, req.stop)) f.fail(*e);
  req.stream = f.boolean("stream").value_or(false);
  if (const json* so = f.get("stream_options")) {
    if (!so->is_object()) {
      f.wrong_type("stream_options", "an object", *so);
    } else if (!req.stream) {
      f.fail(invalid_request("'stream_options' is only allowed when 'stream' is true", "stream_options"));
    } else {
      for (auto it = so->begin(); it != so->end(); ++it) {
        if (it.key() == "include_usage" && (it->is_boolean() || it->is_null())) {
          req.include_usage = it->is_boolean() && it->get<bool>();
        } else if (it.key() == "include_obfuscation" && (it->is_boolean() || it->is_null())) {
          // OpenAI's random padding against length side channels: its absence changes no answer
        } else if (it.key() == "include_usage") {
          f.fail(invalid_request("'stream_options.include_usage' must be a boolean", "stream_options.include_usage"));
        } else {
          f.fail(invalid_request("Unrecognized argument supplied: stream_options." + it.key(), "stream_options." + it.key()));
        }
      }
    }
  }
  if (auto n = f.integer("n", 1, kMaxChoices)) req.n = static_cast<int32_t>(*n);
  if (auto u = f.string("user")) req.user = *u;
  (void)f.string("safety_identifier");  // OpenAI's successor of "user": accepted, not used
  (void)f.string("prompt_cache_key");   // routing hint for OpenAI's cache; ours keys on the prompt itself
  if (auto salt = f.string("cache_salt")) {  // vLLM's name; the server decides whether the tenant may use it
    if (salt->empty() || salt->size() > 256) f.fail(invalid_request("'cache_salt' must be 1..256 characters", "cache_salt"));
    else req.cache_salt = *salt;
  }

  if (const json* ks = f.get("kvshare")) {
    if (!ks->is_object()) {
      f.wrong_type("kvshare", "an object", *ks);
    } else {
      for (auto it = ks->begin(); it != ks->end(); ++it) {
        const std::string key = "kvshare." + it.key();
        if (it.key() == "report" && it->is_boolean()) {
          req.share_report = it->get<bool>();
        } else if (it.key() == "mode" && it->is_string()) {
          if (!engine::parse_share_mode(it->get<std::string>(), &req.share_mode))
            f.fail(invalid_request("'" + key + "' must be one of auto, full, prefix, semantic, naive", key));
        } else if (it.key() == "recompute_ratio" && it->is_number() && it->get<double>() >= 0 && it->get<double>() <= 1) {
          req.recompute_ratio = it->get<double>();
        } else if (it.key() == "deviation" && it->is_string()) {
          share::DeviationScorer d;
          if (!share::parse_deviation_scorer(it->get<std::string>(), &d))
            f.fail(invalid_request("'" + key + "' must be kv or attn-v", key));
          else
            req.deviation = d;
        } else if ((it.key() == "edit_window" || it.key() == "edit_tail") && it->is_number_integer() &&
                   it->get<int64_t>() >= 0 && it->get<int64_t>() <= 4096) {
          (it.key() == "edit_window" ? req.edit_window : req.edit_tail) = static_cast<int32_t>(it->get<int64_t>());
        } else if (it.key() == "donate" && it->is_boolean()) {
          req.donate = it->get<bool>();
        } else if (it.key() == "donate" || it.key() == "report" || it.key() == "mode" || it.key() == "recompute_ratio" ||
                   it.key() == "deviation" || it.key() == "edit_window" || it.key() == "edit_tail") {
          f.fail(invalid_request("'" + key + "' has the wrong type or range", key));
        } else {
          f.fail(invalid_request("Unrecognized argument supplied: " + key, key));
        }
      }
    }
  }

  // Extensions (vLLM / llama.cpp names).
  if (auto k = f.integer("top_k", -1, 1 << 20)) req.sampling.top_k = static_cast<int32_t>(std::max<int64_t>(*k, 0));
  if (auto m = f.number("min_p", 0, 1)) req.sampling.min_p = static_cast<float>(*m);
  if (auto r = f.number("repetition_penalty", 1e-3, 10)) req.sampling.repetition_penalty = static_cast<float>(*r);
  if (auto b = f.boolean("ignore_eos")) req.ignore_eos = *b;

  // Accepted at their neutral value only.
  (void)f.number("frequency_penalty", -2, 2);
  (void)f.number("presence_penalty", -2, 2);
  f.neutral_only("frequency_penalty", "only 0", is_zero_number);
  f.neutral_only("presence_penalty", "only 0", is_zero_number);
  f.neutral_only("logit_bias", "only an empty object", [](const json& v) { return v.is_object() && v.empty(); });
  f.neutral_only("response_format", "only {\"type\": \"text\"}", [](const json& v) {
    return v.is_object() && v.size() == 1 && v.contains("type") && v["type"] == "text";
  });
  f.neutral_only("tools", "no tools", [](const json& v) { return v.is_array() && v.empty(); });
  f.neutral_only("functions", "no functions", [](const json& v) { return v.is_array() && v.empty(); });
  f.neutral_only("tool_choice", "only \"none\" or \"auto\" without tools",
                 [](const json& v) { return v.is_string() && (v == "none" || v == "auto"); });
  f.neutral_only("function_call", "only \"none\"", [](const json& v) { return v.is_string() && v == "none"; });
  for (const AnswerChangingField& a : kAnswerChanging) f.neutral_only(a.name, a.neutral_text, a.neutral);
  f.neutral_only("best_of", "only 1", [](const json& v) { return v.is_number_integer() && v.get<int64_t>() == 1; });
  // The other endpoint's fields: ignoring them would answer a different question.
  f.neutral_only(kind == ApiKind::kChat ? "prompt" : "messages", "this endpoint's field is the other one", never);
  if (kind == ApiKind::kCompletion) f.neutral_only("max_completion_tokens", "a chat field; use max_tokens", never);
  if (kind == ApiKind::kChat) {
    f.neutral_only("echo", "only false (vLLM's chat echo is not supported)", is_false);
    req.logprobs = f.boolean("logprobs").value_or(false);
    if (auto t = f.integer("top_logprobs", 0, kMaxTopLogprobs)) {
      if (!req.logprobs && *t > 0)
        f.fail(invalid_request("'top_logprobs' needs 'logprobs': true", "top_logprobs"));
      req.top_logprobs = static_cast<int32_t>(*t);
    }
    (void)f.boolean("parallel_tool_calls");
    (void)f.boolean("store");
    if (const json* md = f.get("metadata"); md && !md->is_object()) f.wrong_type("metadata", "an object", *md);
    if (auto st = f.string("service_tier"); st && *st != "auto" && *st != "default")
      f.fail(invalid_request("'service_tier' must be 'auto' or 'default'", "service_tier"));
  } else {
    if (auto n = f.integer("logprobs", 0, kMaxTopLogprobs)) {  // completions: the number of alternatives
      req.logprobs = true;
      req.top_logprobs = static_cast<int32_t>(*n);
    }
    req.echo = f.boolean("echo").value_or(false);
    f.neutral_only("suffix", "only an empty string", [](const json& v) { return v.is_string() && v.empty(); });
  }
  if (req.max_tokens && *req.max_tokens == 0 && !req.echo)
    f.fail(invalid_request("'max_tokens' must be at least 1 (0 only with echo: score the prompt)", "max_tokens"));
  if (f.error()) return *f.error();
  req.ignored_fields = f.unknown();
  return req;
}

std::string openai_finish_reason(std::string_view engine_reason) {
  return engine_reason == "length" ? "length" : "stop";
}

json share_report_json(const engine::ShareReport& r) {
  json j = {{"mode", r.mode},
            {"fell_back", r.fell_back},
            {"reused_tokens", r.reused_tokens},
            {"recomputed_tokens", r.recomputed_tokens},
            {"total_tokens", r.total_tokens}};
  if (r.donor_id >= 0) {
    j["donor_retrieval"] = r.retrieval;
    if (r.retrieval != "runs") j["donor_similarity"] = r.similarity;  // run retrieval measures none
    j["edit_script"] = r.edit_script;
    j["deviation_median"] = r.deviation_median;
    j["deviation_left"] = r.deviation_left;
    if (!r.deviation.empty()) j["deviation"] = r.deviation;
    if (r.repaired_after_tokens >= 0) j["repaired_after_tokens"] = r.repaired_after_tokens;
    json donors = json::array();
    for (const auto& d : r.donors) {
      json runs = json::array();
      for (const auto& run : d.runs) runs.push_back({{"src", run.src}, {"dst", run.dst}, {"n", run.n}});
      donors.push_back({{"donor_id", d.donor_id}, {"tokens", d.tokens}, {"runs", std::move(runs)}});
    }
    j["donors"] = std::move(donors);
  }
  if (!r.tier.empty()) {  // where the reused blocks came from
    j["tier"] = r.tier;
    j["disk_blocks"] = r.disk_blocks;
    j["redis_blocks"] = r.redis_blocks;
  }
  if (!r.remote_decision.empty()) {  // the Redis cost model priced blocks for this request
    j["remote_decision"] = r.remote_decision;
    j["remote_fetch_s"] = r.remote_fetch_s;
    j["remote_recompute_s"] = r.remote_recompute_s;
  }
  if (r.shareable_tokens >= 0) {  // the donation policy limited what others may reuse of this prompt
    j["shareable_tokens"] = r.shareable_tokens;
    j["donation_limit"] = r.donation_limit;
  }
  return j;
}

json usage_json(const engine::Usage& u) {
  return json{{"prompt_tokens", u.prompt_tokens},
              {"completion_tokens", u.completion_tokens},
              {"total_tokens", u.prompt_tokens + u.completion_tokens},
              {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

json error_json(const ApiError& e) {
  return json{{"error",
               {{"message", e.message},
                {"type", e.type},
                {"param", e.param.empty() ? json(nullptr) : json(e.param)},
                {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

json chat_completion_json(const ResponseMeta& meta, std::span<const ChoiceOutput> choices, const engine::Usage& usage) {
  json arr = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceOutput& c = choices[i];
    arr.push_back({{"index", i},
                   {"message", {{"role", "assistant"}, {"content", c.text}}},
                   {"logprobs", c.logprobs ? chat_logprobs_json(*c.logprobs) : json(nullptr)},
                   {"finish_reason", c.finish_reason}});
  }
  return json{{"id", meta.id},           {"object", object_name(ApiKind::kChat, false)},
              {"created", meta.created}, {"model", meta.model},
              {"choices", std::move(arr)}, {"usage", usage_json(usage)}};
}

json text_completion_json(const ResponseMeta& meta, std::span<const ChoiceOutput> choices, const engine::Usage& usage) {
  json arr = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceOutput& c = choices[i];
    arr.push_back({{"text", c.text},
                   {"index", i},
                   {"logprobs", c.logprobs ? completion_logprobs_json(*c.logprobs, 0) : json(nullptr)},
                   {"finish_reason", c.finish_reason}});
  }
  return json{{"id", meta.id},           {"object", object_name(ApiKind::kCompletion, false)},
              {"created", meta.created}, {"model", meta.model},
              {"choices", std::move(arr)}, {"usage", usage_json(usage)}};
}

json chat_completion_json(const ResponseMeta& meta, std::string_view text, std::string_view finish_reason,
                          const engine::Usage& usage) {
  const ChoiceOutput c{std::string(text), std::string(finish_reason), std::nullopt};
  return chat_completion_json(meta, std::span(&c, 1), usage);
}

json text_completion_json(const ResponseMeta& meta, std::string_view text, std::string_view finish_reason,
                          const engine::Usage& usage) {
  const ChoiceOutput c{std::string(text), std::string(finish_reason), std::nullopt};
  return text_completion_json(meta, std::span(&c, 1), usage);
}

json stream_chunk_json(ApiKind kind, const ResponseMeta& meta, const ChunkDelta& d, bool include_usage) {
  json finish = d.finish_reason ? json(*d.finish_reason) : json(nullptr);
  json choice;
  if (kind == ApiKind::kChat) {
    json delta = json::object();
    if (d.role) delta["role"] = "assistant";
    if (d.text) delta["content"] = *d.text;
    json lp = d.logprobs ? chat_logprobs_json(*d.logprobs) : json(nullptr);
    choice = {{"index", d.index}, {"delta", delta}, {"logprobs", std::move(lp)}, {"finish_reason", finish}};
  } else {
    json lp = d.logprobs ? completion_logprobs_json(*d.logprobs, d.text_offset) : json(nullptr);
    choice = {{"text", d.text.value_or("")}, {"index", d.index}, {"logprobs", std::move(lp)}, {"finish_reason", finish}};
  }
  json chunk = {{"id", meta.id},           {"object", object_name(kind, true)},
                {"created", meta.created}, {"model", meta.model},
                {"choices", json::array({choice})}};
  return with_usage_null(std::move(chunk), include_usage);
}

json usage_chunk_json(ApiKind kind, const ResponseMeta& meta, const engine::Usage& usage) {
  return json{{"id", meta.id},           {"object", object_name(kind, true)},
              {"created", meta.created}, {"model", meta.model},
              {"choices", json::array()}, {"usage", usage_json(usage)}};
}

json model_json(const std::string& id, int64_t created, int64_t max_model_len) {
  json j{{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "kvshare"}};
  if (max_model_len > 0) j["max_model_len"] = max_model_len;
  return j;
}

json models_list_json(const std::string& id, int64_t created, int64_t max_model_len) {
  return json{{"object", "list"}, {"data", json::array({model_json(id, created, max_model_len)})}};
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse_data(const json& j) { return "data: " + dump_json(j) + "\n\n"; }

}  // namespace kvs::server
