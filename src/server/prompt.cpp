#include "server/prompt.h"

namespace kvs::server {

namespace {

// A marker that occurs in no message content: "kvs" "\x1f" <n> "#", the smallest n that is absent everywhere.
// It begins and ends with non-space characters, so a template's `trim` leaves the placeholders intact.
std::string pick_marker(std::span<const tok::ChatMessage> messages) {
  for (uint64_t n = 0;; ++n) {
    std::string m = "kvs\x1f" + std::to_string(n) + "#";
    bool clash = false;
    for (const auto& msg : messages) clash = clash || msg.content.find(m) != std::string::npos;
    if (!clash) return m;
  }
}

// The template's own text around each content: segments[i] comes before content i, segments[n] after the last.
Result<std::vector<std::string>> template_segments(const tok::ChatTemplate& tmpl,
                                                  std::span<const tok::ChatMessage> messages) {
  const std::string marker = pick_marker(messages);
  auto placeholder = [&](size_t i) { return marker + std::to_string(i) + marker; };
  std::vector<tok::ChatMessage> masked(messages.begin(), messages.end());
  for (size_t i = 0; i < masked.size(); ++i) masked[i].content = placeholder(i);
  auto rendered = tmpl.apply(masked, /*add_generation_prompt=*/true);
  if (!rendered.is_ok()) return rendered.status();
  const std::string& r = rendered.value();
  std::vector<std::string> segments;
  size_t pos = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string ph = placeholder(i);
    const size_t at = r.find(ph, pos);
    if (at == std::string::npos || r.find(ph, at + ph.size()) != std::string::npos)
      return Status(Code::kInternal, "the chat template did not render message " + std::to_string(i) + " exactly once");
    segments.push_back(r.substr(pos, at - pos));
    pos = at + ph.size();
  }
  segments.push_back(r.substr(pos));
  return segments;
}

}  // namespace

Result<std::vector<PromptPiece>> render_chat_pieces(const tok::ChatTemplate& tmpl,
                                                    std::span<const tok::ChatMessage> messages) {
  auto segs = template_segments(tmpl, messages);
  if (!segs.is_ok()) return segs.status();
  const std::vector<std::string>& seg = segs.value();
  auto rendered = tmpl.apply(messages, /*add_generation_prompt=*/true);
  if (!rendered.is_ok()) return rendered.status();
  const std::string& r = rendered.value();
  // Walk the real rendering: template text, then content i as the template printed it.
  std::vector<PromptPiece> pieces;
  size_t pos = 0;
  for (size_t i = 0; i <= messages.size(); ++i) {
    if (r.compare(pos, seg[i].size(), seg[i]) != 0) break;
    if (!seg[i].empty()) pieces.push_back({seg[i], true});
    pos += seg[i].size();
    if (i == messages.size()) {
      if (pos == r.size()) return pieces;
      break;
    }
    const std::string& next = seg[i + 1];
    bool found = false;
    for (const std::string& c : {messages[i].content, tok::strip_py_whitespace(messages[i].content)}) {
      if (r.compare(pos, c.size(), c) == 0 && r.compare(pos + c.size(), next.size(), next) == 0 &&
          (i + 1 < messages.size() || pos + c.size() + next.size() == r.size())) {
        pieces.push_back({c, false});
        pos += c.size();
        found = true;
        break;
      }
    }
    if (!found) break;
  }
  return Status(Code::kInternal, "the chat template changes message contents (beyond trimming them); the prompt "
                                 "cannot be split into template text and contents");
}

ApiResult<std::vector<int32_t>> build_prompt_tokens(const CompletionRequest& req, const tok::Tokenizer& tokenizer,
                                                    const tok::ChatTemplate* chat_template, size_t* user_from) {
  std::vector<int32_t> ids;
  size_t system_bytes = 0;  // rendered bytes before the first content a user wrote
  const char* param = req.kind == ApiKind::kChat ? "messages" : "prompt";
  auto append = [&](const std::string& text, bool parse_special) -> std::optional<ApiError> {
    auto r = tokenizer.encode(text, parse_special);
    if (!r.is_ok()) return invalid_request("Cannot tokenize the " + std::string(param) + ": " + r.status().message(), param);
    ids.insert(ids.end(), r.value().begin(), r.value().end());
    return std::nullopt;
  };
  if (req.kind == ApiKind::kChat) {
    if (!chat_template)  // the model's fault, not a server fault: a 400 the client can act on (use completions)
      return invalid_request("this model has no chat template (tokenizer.chat_template): use /v1/completions, or "
                             "start the server with --chat-template FILE", "messages");
    auto pieces = render_chat_pieces(*chat_template, req.messages);
    if (!pieces.is_ok()) {
      const Status& s = pieces.status();
      if (s.code() == Code::kInvalidArgument) return invalid_request(s.message(), "messages");
      return internal_error("cannot apply the chat template: " + s.to_string());
    }
    size_t content = 0;
    bool in_system = true;
    for (const auto& p : pieces.value()) {
      if (!p.is_template) in_system = in_system && req.messages[content++].role == "system";
      if (!in_system) break;
      system_bytes += p.text.size();
    }
    for (const auto& p : pieces.value())
      if (auto e = append(p.text, p.is_template)) return *e;
  } else if (!req.prompt_tokens.empty()) {
    ids = req.prompt_tokens;
  } else {
    if (auto e = append(req.prompt, /*parse_special=*/true)) return *e;
  }
  if (tokenizer.add_bos() && tokenizer.bos() >= 0 && (ids.empty() || ids.front() != tokenizer.bos())) {
    ids.insert(ids.begin(), tokenizer.bos());
    system_bytes += tokenizer.token_to_piece(tokenizer.bos()).size();
  }
  if (user_from) *user_from = system_bytes;
  tokenizer.prepend_bos(ids);  // a BOS token has no text: the byte offsets above are unchanged
  if (ids.empty()) return invalid_request("The prompt is empty.", param);
  return ids;
}

}  // namespace kvs::server
