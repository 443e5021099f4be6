// Fuzz target: the chat-template renderer (src/tokenizer/chat_template.*, the Jinja interpreter in
// src/tokenizer/jinja/). Input: fields separated by 0x1F:
//   flags 0x1F template 0x1F role 0x1F content 0x1F role ...
// flags' first byte: bit 0 add_generation_prompt; bit 1 render with SmolLM2's fixed ChatML template instead of
// the fuzzed one.
//
// Oracle (chat_template.h, jinja/template.h): nothing crashes, hangs or grows without bound; create() is ok or
// Unsupported; apply() is ok, InvalidArgument (no messages, a bad role, raise_exception or a type error) or
// Unsupported, never anything else; rendering is deterministic (twice, same result). With the fixed template,
// valid conversations render exactly as the ChatML layout built here independently:
//   [<|im_start|>system\n{default}<|im_end|>\n]  <|im_start|>{role}\n{content}<|im_end|>\n ...  [<|im_start|>assistant\n]
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "tokenizer/chat_template.h"

namespace {

using kvs::Code;
using kvs::tok::ChatMessage;

const char* const kSmolTemplate =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

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

void check_chatml(const kvs::Result<std::string>& r, const std::vector<ChatMessage>& msgs, bool add_gen) {
  if (msgs.empty()) {
    FUZZ_CHECK(!r.is_ok() && r.status().code() == Code::kInvalidArgument, "an empty conversation was rendered");
    return;
  }
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (valid_role(msgs[i].role)) continue;
    FUZZ_CHECK(!r.is_ok() && r.status().code() == Code::kInvalidArgument, "bad role accepted");
    FUZZ_CHECK(r.status().message().find("message " + std::to_string(i) + " ") != std::string::npos,
               "error does not name the first bad message: " + r.status().message());
    return;
  }
  FUZZ_CHECK(r.is_ok(), r.status().to_string());
  std::string want;
  auto turn = [&want](const std::string& role, const std::string& content) {
    want += "<|im_start|>" + role + "\n" + content + "<|im_end|>\n";
  };
  if (msgs[0].role != "system") turn("system", "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  for (const auto& m : msgs) turn(m.role, m.content);
  if (add_gen) want += "<|im_start|>assistant\n";
  FUZZ_CHECK(r.value() == want, "rendering differs from the ChatML layout");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> f = split(std::string_view(reinterpret_cast<const char*>(data), size), '\x1f');
  if (f.size() < 2) return 0;
  const bool add_gen = !f[0].empty() && (f[0][0] & 1);
  const bool fixed = !f[0].empty() && (f[0][0] & 2);
  std::vector<ChatMessage> msgs;
  for (size_t i = 2; i + 1 < f.size(); i += 2) msgs.push_back({f[i], f[i + 1]});

  auto t = kvs::tok::ChatTemplate::create(fixed ? std::string(kSmolTemplate) : f[1], {"<s>", "</s>"});
  if (!t.is_ok()) {
    FUZZ_CHECK(!fixed, "the fixed template was refused: " + t.status().to_string());
    FUZZ_CHECK(t.status().code() == Code::kUnsupported, "create() failed with " + t.status().to_string());
    return 0;
  }
  auto r = t.value().apply(msgs, add_gen);
  auto again = t.value().apply(msgs, add_gen);
  FUZZ_CHECK(r.is_ok() == again.is_ok() && (r.is_ok() ? r.value() == again.value()
                                                       : r.status().message() == again.status().message()),
             "rendering is not deterministic");
  if (fixed) {
    check_chatml(r, msgs, add_gen);
    return 0;
  }
  if (!r.is_ok()) {
    const Code c = r.status().code();
    FUZZ_CHECK(c == Code::kInvalidArgument || c == Code::kUnsupported || c == Code::kResourceExhausted,
               "apply() failed with " + r.status().to_string());
  }
  return 0;
}
