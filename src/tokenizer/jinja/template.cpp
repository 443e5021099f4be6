#include "tokenizer/jinja/template.h"

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/lexer.h"
#include "tokenizer/jinja/parser.h"

namespace kvs::tok::jinja {

Result<Template> Template::parse(std::string_view source) {
  try {
    Template t;
    t.body_ = std::make_shared<const Body>(jinja::parse(lex(source)));
    return t;
  } catch (const JinjaError& e) {
    return unsupported(e.what());
  }
}

Result<std::string> Template::render(const std::vector<std::pair<std::string, Value>>& vars) const {
  Interpreter::Frame globals;
  for (auto& [k, v] : global_functions()) globals[k] = std::move(v);
  for (const auto& [k, v] : vars) globals[k] = v;
  try {
    Interpreter interp(std::move(globals));
    interp.run(*body_);
    return std::move(interp.output());
  } catch (const JinjaError& e) {
    switch (e.kind()) {
      case JinjaError::Kind::kRaised: return invalid_argument(std::string("template raised: ") + e.what());
      case JinjaError::Kind::kType: return invalid_argument(std::string("template error: ") + e.what());
      case JinjaError::Kind::kUnsupported: return unsupported(e.what());
    }
    return internal(e.what());
  } catch (const std::bad_alloc&) {
    return resource_exhausted("template rendering ran out of memory");
  }
}

}  // namespace kvs::tok::jinja
