// Chat templates: render a conversation to the prompt text a model was trained on, by running the model's
// own Jinja template (tokenizer.chat_template, or a file given with --chat-template) through the interpreter
// in tokenizer/jinja/, as transformers' apply_chat_template does with jinja2.
//
// Variables the template sees (transformers' names): messages (a list of {"role", "content"} dicts),
// add_generation_prompt, bos_token, eos_token (the texts of the model's BOS/EOS tokens, "" when it has none),
// and the globals raise_exception, range, namespace, dict, strftime_now.
//
// Invariants: a ChatTemplate has parsed and rendered a set of sample conversations when create() returned it
// (at least one rendered, none hit an unsupported construct or a type error), so an unsupported template is
// an error at load time, not on the first request. apply() is const and thread-safe.
//
// Content is copied as the template says: a message containing "<|im_end|>" renders it, and encoding the
// prompt with special parsing on turns it into the control token. Callers that must keep users from injecting
// turns tokenize message contents with parse_special = false (server/prompt.h).
#pragma once
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "tokenizer/jinja/template.h"

namespace kvs::tok {

class Tokenizer;

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct ChatSpecials {
  std::string bos_token, eos_token;
};
// The texts of the tokenizer's BOS and EOS tokens ("" for a token it does not have).
ChatSpecials chat_specials(const Tokenizer& tokenizer);

class ChatTemplate {
 public:
  // Unsupported for an empty source (the model has no template), a syntax error or construct outside the
  // supported subset (naming the line), or a template that fails on every sample conversation.
  static Result<ChatTemplate> create(std::string source, ChatSpecials specials = {});

  // Renders `messages`. InvalidArgument for no messages (as transformers), a role other than
  // system/user/assistant (naming the message index), or a conversation the template rejects
  // (raise_exception's message); Unsupported for a construct only found while rendering.
  Result<std::string> apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

  const std::string& source() const { return source_; }

 private:
  Result<std::string> render(std::span<const ChatMessage> messages, bool add_generation_prompt) const;
  std::string source_;
  ChatSpecials specials_;
  jinja::Template tmpl_;
};

// Python's str.strip(): what a template's `trim` filter does to a content (server/prompt.cpp locates contents).
std::string strip_py_whitespace(std::string_view s);

// create() then apply(): for one-off renders.
Result<std::string> apply_chat_template(const std::string& template_src, std::span<const ChatMessage> messages,
                                        bool add_generation_prompt, const ChatSpecials& specials = {});

}  // namespace kvs::tok
