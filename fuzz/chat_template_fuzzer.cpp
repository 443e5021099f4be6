// Fuzz target: the chat-template renderer (src/tokenizer/chat_template.*). Input: fields separated by 0x1F:
//   flags (its first byte: bit 0 add_generation_prompt) 0x1F template 0x1F role 0x1F content 0x1F role ...
//
// Oracle (chat_template.h): Unsupported for a template that is not ChatML; InvalidArgument for no messages or
// a role other than system/user/assistant (naming the first bad message); otherwise exactly
//   [<|im_start|>system\n{default}<|im_end|>\n]  <|im_start|>{role}\n{content}<|im_end|>\n ...  [<|im_start|>assistant\n]
// built here independently. The default system prompt is the template's first "<|im_start|>system\n" literal
// when that is plain text (no quotes, backslashes or braces).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "tokenizer/chat_template.h"

namespace {

using kvs::tok::ChatMessage;

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

bool valid_role(const std::string& r) { return r == "system" || r == "user" || r == "assistant"; }

// The default system prompt when the first "<|im_start|>system\n" opens plain literal text; nullopt when this
// simple reading does not decide it (then only the rendering's consistency with the library's answer is checked).
std::optional<std::optional<std::string>> plain_default(std::string_view t) {
  const std::string_view opener = "<|im_start|>system";
  const size_t pos = t.find(opener);
  if (pos == std::string_view::npos) return std::optional<std::string>{};
  const size_t body = pos + opener.size();
  if (t.substr(body, 1) != "\n") return std::nullopt;
  const size_t end = t.find("<|im_end|>", body + 1);
  if (end == std::string_view::npos) return std::nullopt;
  const std::string_view text = t.substr(body + 1, end - body - 1);
  if (text.empty() || text.find_first_of("'\"\\{") != std::string_view::npos) return std::nullopt;
  return std::optional<std::string>(std::string(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> f = split(std::string_view(reinterpret_cast<const char*>(data), size), '\x1f');
  if (f.size() < 2) return 0;
  const bool add_gen = !f[0].empty() && (f[0][0] & 1);
  const std::string& tmpl = f[1];
  std::vector<ChatMessage> msgs;
  for (size_t i = 2; i + 1 < f.size(); i += 2) msgs.push_back({f[i], f[i + 1]});

  const auto def = kvs::tok::chatml_default_system_prompt(tmpl);
  FUZZ_CHECK(!def || !def->empty(), "empty default system prompt returned");
  if (auto want = plain_default(tmpl)) FUZZ_CHECK(def == *want, "default system prompt differs from the literal");

  auto r = kvs::tok::apply_chat_template(tmpl, msgs, add_gen);
  if (tmpl.find("<|im_start|>") == std::string::npos) {
    FUZZ_CHECK(!r.is_ok() && r.status().code() == kvs::Code::kUnsupported, "a non-ChatML template was rendered");
    return 0;
  }
  if (msgs.empty()) {
    FUZZ_CHECK(!r.is_ok() && r.status().code() == kvs::Code::kInvalidArgument, "an empty conversation was rendered");
    return 0;
  }
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (valid_role(msgs[i].role)) continue;
    FUZZ_CHECK(!r.is_ok() && r.status().code() == kvs::Code::kInvalidArgument, "bad role accepted");
    FUZZ_CHECK(r.status().message().find("message " + std::to_string(i) + " ") != std::string::npos,
               "error does not name the first bad message: " + r.status().message());
    return 0;
  }
  FUZZ_CHECK(r.is_ok(), r.status().to_string());
  std::string want;
  auto turn = [&want](const std::string& role, const std::string& content) {
    want += "<|im_start|>" + role + "\n" + content + "<|im_end|>\n";
  };
  if (msgs[0].role != "system" && def) turn("system", *def);
  for (const auto& m : msgs) turn(m.role, m.content);
  if (add_gen) want += "<|im_start|>assistant\n";
  FUZZ_CHECK(r.value() == want, "rendering differs from the ChatML layout");
  return 0;
}
