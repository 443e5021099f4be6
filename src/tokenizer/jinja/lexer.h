// Jinja lexer: template source -> text and tag tokens, with jinja2's whitespace handling applied to the text.
//
// Environment reproduced (transformers' chat-template environment): trim_blocks=True, lstrip_blocks=True,
// keep_trailing_newline=False. So:
//   - every newline sequence (\r\n, \r, \n) of the source becomes "\n", and one trailing newline is dropped;
//   - "{%-", "{{-", "{#-" strip all whitespace before the tag; "-%}", "-}}", "-#}" all whitespace after it;
//   - lstrip_blocks: spaces/tabs between the start of a line and a "{%" or "{#" are removed ("{%+" keeps them);
//   - trim_blocks: the first newline after "%}" or "#}" is removed ("+%}" keeps it);
//   - comments produce nothing.
// Inside tags: names, int/float/string literals (Python escapes), operators. Errors (an unterminated tag or
// string, an unexpected character) throw JinjaError(kUnsupported) naming the line.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvs::tok::jinja {

struct Token {
  enum class Kind { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };
  Kind kind;
  std::string text;  // text, name, operator or the decoded string literal
  int64_t i = 0;
  double f = 0;
  int line = 1;
};

std::vector<Token> lex(std::string_view source);

}  // namespace kvs::tok::jinja
