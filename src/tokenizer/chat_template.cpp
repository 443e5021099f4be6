#include "tokenizer/chat_template.h"

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace kvs::tok {

ChatSpecials chat_specials(const Tokenizer& t) {
  ChatSpecials s;
  if (t.vocab().valid(t.bos())) s.bos_token = t.vocab().text(t.bos());
  if (t.vocab().valid(t.eos())) s.eos_token = t.vocab().text(t.eos());
  return s;
}

Result<ChatTemplate> ChatTemplate::create(std::string source, ChatSpecials specials) {
  if (source.empty()) return unsupported("the model has no chat template (tokenizer.chat_template)");
  auto parsed = jinja::Template::parse(source);
  if (!parsed.is_ok()) return unsupported("chat template not supported: " + parsed.status().message());
  ChatTemplate t;
  t.source_ = std::move(source);
  t.specials_ = std::move(specials);
  t.tmpl_ = std::move(parsed).value();
  // Sample conversations: the template must render at least one and hit no unsupported construct.
  const ChatMessage sys{"system", "You are helpful."}, user{"user", "Hello!"}, asst{"assistant", "Hi there."};
  const std::vector<std::vector<ChatMessage>> samples = {
      {user}, {sys, user}, {user, asst, user}, {sys, user, asst, user}};
  Status last;
  bool any_ok = false;
  for (const auto& conv : samples) {
    for (bool gen : {true, false}) {
      auto r = t.render(conv, gen);
      if (r.is_ok()) {
        any_ok = true;
      } else if (r.status().code() != Code::kInvalidArgument) {
        return unsupported("chat template not supported: " + r.status().message());
      } else {
        last = r.status();
      }
    }
  }
  if (!any_ok) return unsupported("the chat template rejects every sample conversation: " + last.message());
  return t;
}

Result<std::string> ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  jinja::List msgs;
  for (const ChatMessage& m : messages) {
    auto d = jinja::make_dict();
    d->set("role", jinja::Value(m.role));
    d->set("content", jinja::Value(m.content));
    msgs.emplace_back(d);
  }
  return tmpl_.render({{"messages", jinja::Value(std::move(msgs))},
                       {"add_generation_prompt", jinja::Value(add_generation_prompt)},
                       {"bos_token", jinja::Value(specials_.bos_token)},
                       {"eos_token", jinja::Value(specials_.eos_token)}});
}

Result<std::string> ChatTemplate::apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  if (messages.empty()) return invalid_argument("cannot apply a chat template to an empty conversation");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (r != "system" && r != "user" && r != "assistant") {
      return invalid_argument("message " + std::to_string(i) + " has role '" + r +
                              "'; expected system, user or assistant");
    }
  }
  return render(messages, add_generation_prompt);
}

std::string strip_py_whitespace(std::string_view s) {
  if (!validate_utf8(s).is_ok()) return std::string(s);
  const auto cps = jinja::code_points(std::string(s));
  size_t b = 0, e = cps.size();
  while (b < e && jinja::is_py_space(cps[b])) ++b;
  while (e > b && jinja::is_py_space(cps[e - 1])) --e;
  return jinja::from_code_points(cps, b, e);
}

Result<std::string> apply_chat_template(const std::string& template_src, std::span<const ChatMessage> messages,
                                        bool add_generation_prompt, const ChatSpecials& specials) {
  auto t = ChatTemplate::create(template_src, specials);
  if (!t.is_ok()) return t.status();
  return t.value().apply(messages, add_generation_prompt);
}

}  // namespace kvs::tok
