// Jinja syntax tree: expressions and statements of the chat-template subset (see parser.h for the grammar).
//
// Invariants: every node owns its children (unique_ptr); `line` is the template line the node starts on;
// fields a kind does not use stay empty. Filter and test names are checked against the built-ins at parse
// time (an unknown one is a parse error), so a parsed template only calls what exists.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace kvs::tok::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,   // value
    kName,      // name
    kList,      // [items]
    kTuple,     // (items): a list in this interpreter
    kDict,      // {keys[i]: items[i]}
    kUnary,     // op a            ("-", "+", "not")
    kBinary,    // a op b          (+ - * / // % ** ~ == != < <= > >= in "not in" and or)
    kCond,      // a if b else c   (c may be null: undefined)
    kGetAttr,   // a.name
    kGetItem,   // a[b]
    kSlice,     // a[b:c:d]        (any of b, c, d may be null)
    kCall,      // a(items, kwargs)
    kFilter,    // a | name(items, kwargs)
    kTest,      // a is [not] name(items)   (op == "not" when negated)
  };
  Kind kind;
  int line = 0;
  Value value;
  std::string name, op;
  ExprPtr a, b, c, d;
  std::vector<ExprPtr> items, keys;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // branches: (cond, body)...; else_body
    kFor,       // {% for targets in expr [if cond] %} body {% else %} else_body {% endfor %}
    kSet,       // {% set targets = expr %} or {% set target.attr = expr %} (attr non-empty)
    kSetBlock,  // {% set target %} body {% endset %}
    kMacro,     // {% macro name(params) %} body {% endmacro %}
    kBreak,
    kContinue,
  };
  Kind kind;
  int line = 0;
  std::string text, name, attr;
  std::vector<std::string> targets;
  ExprPtr expr, cond;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters and their defaults (may be null)
};

}  // namespace kvs::tok::jinja
