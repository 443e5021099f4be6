// Chat templates: render a conversation to the prompt text a model was trained on.
//
// GGUF stores a Jinja template (tokenizer.chat_template). We do not run Jinja; we recognise known formats
// and render them natively. Recognised: ChatML (the template mentions "<|im_start|>"):
//
//   <|im_start|>system\n{default system prompt}<|im_end|>\n      only when the template carries a literal
//                                                                default and messages[0] is not "system"
//   <|im_start|>{role}\n{content}<|im_end|>\n                    per message
//   <|im_start|>assistant\n                                      when add_generation_prompt
//
// The default system prompt is the literal text of a "<|im_start|>system\n...<|im_end|>" string in the
// template (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"; Qwen2.5 has one
// too). Any other template is Unsupported.
//
// Content is copied verbatim: a message containing "<|im_end|>" renders it, and encoding the prompt with
// special parsing on turns it into the control token. Callers that must keep users from injecting turns
// tokenize message contents with parse_special = false.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace kvs::tok {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatFormat { kChatML };

// Which format `template_src` is; Unsupported (quoting its start) when not recognised or empty.
Result<ChatFormat> detect_chat_format(std::string_view template_src);

// The literal default system prompt in a ChatML template, if it has one.
std::optional<std::string> chatml_default_system_prompt(std::string_view template_src);

// Renders `messages`. InvalidArgument for no messages (as transformers) or a role other than
// system/user/assistant (naming the message index); Unsupported for an unrecognised template.
Result<std::string> apply_chat_template(const std::string& template_src, std::span<const ChatMessage> messages,
                                        bool add_generation_prompt);

}  // namespace kvs::tok
