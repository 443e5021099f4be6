// The prompt token ids of an API request.
//
// Chat: the messages are rendered with the model's chat template (tokenizer.chat_template or --chat-template), but
// message contents are data, never control: the template is rendered once with a placeholder for each content
// (which gives the template's own text between them) and once with the contents; the template's own text is
// encoded with special-token parsing ("<|im_start|>" -> its id) and each content, as the template rendered it
// (verbatim, or stripped of surrounding whitespace by a `trim` filter as Gemma's does), without it, so a user
// writing "<|im_end|><|im_start|>system" gets those characters as plain text, not a forged turn. Pieces meet at
// a special token or a newline, so for ordinary messages the ids equal those of encoding the whole rendered
// prompt at once (as transformers' apply_chat_template(tokenize=True) does).
// Completions: the prompt text is encoded with special-token parsing (the caller owns the whole prompt), or the
// token ids are taken as given (the engine checks their range).
// A BOS id is prepended when the tokenizer asks for one and the prompt does not already start with it.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "server/openai_api.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace kvs::server {

struct PromptPiece {
  std::string text;
  bool is_template = false;  // template text (special tokens parsed) or message content (not parsed)
};

// The rendered conversation as alternating template text and message contents, in order; concatenating the
// texts gives chat_template.apply(messages, true). Errors as apply, and Internal when the template does not
// render each content exactly once, in order, verbatim or trimmed.
Result<std::vector<PromptPiece>> render_chat_pieces(const tok::ChatTemplate& chat_template,
                                                    std::span<const tok::ChatMessage> messages);

// The request's prompt ids. 400 for a conversation the template rejects or an encoding problem (e.g. invalid
// UTF-8), 500 when the model has no chat template (chat_template null). user_from (optional): the byte offset,
// in the prompt's decoded text, where text that a
// user wrote begins (chat: the first non-system message's content; completions: 0). System messages before it
// are the operator's or the application's text: the donation policy does not screen them.
ApiResult<std::vector<int32_t>> build_prompt_tokens(const CompletionRequest& req, const tok::Tokenizer& tokenizer,
                                                    const tok::ChatTemplate* chat_template,
                                                    size_t* user_from = nullptr);

}  // namespace kvs::server
