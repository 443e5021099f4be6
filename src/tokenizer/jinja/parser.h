// Jinja parser: tokens (lexer.h) -> statement list (ast.h). jinja2's grammar and operator precedence for the
// subset chat templates use:
//   statements  {% if %}{% elif %}{% else %}{% endif %}   {% for a[, b] in iter [if cond] %}...[{% else %}]{% endfor %}
//               {% set x = e %}  {% set a, b = e %}  {% set ns.attr = e %}  {% set x %}...{% endset %}
//               {% macro m(p, q=default) %}...{% endmacro %}  {% break %}  {% continue %}
//               {% generation %}...{% endgeneration %} (renders its body)
//   expressions, lowest first:  a if c else b | or | and | not | == != < <= > >= in "not in" | + - | ~ |
//               * / // % | ** | unary - + | postfix .name [i] [a:b:c] (args) | "| filter(args)" "is [not] test"
//   literals    'str' "str" (adjacent ones concatenate), 42, 4.2, true/false/none (any case as jinja2:
//               true True, false False, none None), [..], (..), {k: v}
// Anything else (an unknown statement, filter or test; a stray token) throws JinjaError(kUnsupported) naming
// the line, so an unsupported template fails when it is loaded, not when a request renders it.
#pragma once
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/lexer.h"

namespace kvs::tok::jinja {

Body parse(const std::vector<Token>& tokens);

}  // namespace kvs::tok::jinja
