#include "tokenizer/chat_template.h"

namespace kvs::tok {

namespace {

constexpr std::string_view kImStart = "<|im_start|>";
constexpr std::string_view kImEnd = "<|im_end|>";

// Unescapes the body of a Jinja string literal; nullopt when `s` is not entirely literal text (an unescaped
// quote means the literal ended there and an expression follows; "{{"/"{%" mean template code).
std::optional<std::string> literal_text(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\'' || c == '"') return std::nullopt;
    if (c == '{' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '%')) return std::nullopt;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i == s.size()) return std::nullopt;
    switch (s[i]) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case '\\': case '\'': case '"': out.push_back(s[i]); break;
      default: return std::nullopt;
    }
  }
  return out;
}

}  // namespace

Result<ChatFormat> detect_chat_format(std::string_view src) {
  if (src.empty()) return unsupported("the model has no chat template (tokenizer.chat_template)");
  if (src.find(kImStart) != std::string_view::npos) return ChatFormat::kChatML;
  std::string head(src.substr(0, 80));
  for (char& c : head) if (c == '\n') c = ' ';
  return unsupported("chat template not recognised (supported: ChatML); it begins: " + head);
}

std::optional<std::string> chatml_default_system_prompt(std::string_view src) {
  const std::string_view opener = "<|im_start|>system";
  for (size_t pos = src.find(opener); pos != std::string_view::npos; pos = src.find(opener, pos + 1)) {
    size_t body = pos + opener.size();
    if (src.substr(body, 1) == "\n") body += 1;
    else if (src.substr(body, 2) == "\\n") body += 2;
    else continue;
    const size_t end = src.find(kImEnd, body);
    if (end == std::string_view::npos) break;
    if (auto text = literal_text(src.substr(body, end - body)); text && !text->empty()) return text;
  }
  return std::nullopt;
}

Result<std::string> apply_chat_template(const std::string& template_src, std::span<const ChatMessage> messages,
                                        bool add_generation_prompt) {
  auto format = detect_chat_format(template_src);
  if (!format.is_ok()) return format.status();
  if (messages.empty()) return invalid_argument("cannot apply a chat template to an empty conversation");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (r != "system" && r != "user" && r != "assistant") {
      return invalid_argument("message " + std::to_string(i) + " has role '" + r +
                              "'; expected system, user or assistant");
    }
  }
  // ChatML.
  const std::optional<std::string> default_system = chatml_default_system_prompt(template_src);
  std::string out;
  size_t size = 32;
  for (const auto& m : messages) size += m.role.size() + m.content.size() + 24;
  out.reserve(size + (default_system ? default_system->size() + 32 : 0));
  auto turn = [&out](std::string_view role, std::string_view content) {
    out.append(kImStart).append(role).append("\n").append(content).append(kImEnd).append("\n");
  };
  if (messages[0].role != "system" && default_system) turn("system", *default_system);
  for (const auto& m : messages) turn(m.role, m.content);
  if (add_generation_prompt) out.append(kImStart).append("assistant\n");
  return out;
}

}  // namespace kvs::tok
