// A compiled Jinja template (the chat-template subset of jinja2; see lexer.h, parser.h, builtins.h).
//
// Invariants: a Template is immutable after parse() and shared by copies; render() is const and thread-safe
// (each call has its own interpreter state). No exception leaves this API: parse errors are Unsupported
// (naming the line and the construct), render errors are InvalidArgument (raise_exception's message, as
// "template raised: ...", or a type error such as using an undefined variable in arithmetic) or
// Unsupported (a construct only detected while rendering).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "tokenizer/jinja/value.h"

namespace kvs::tok::jinja {

struct Stmt;

class Template {
 public:
  static Result<Template> parse(std::string_view source);

  // Renders with `vars` (plus the global functions range, namespace, dict, raise_exception, strftime_now).
  Result<std::string> render(const std::vector<std::pair<std::string, Value>>& vars) const;

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<Stmt>>> body_;
};

}  // namespace kvs::tok::jinja
