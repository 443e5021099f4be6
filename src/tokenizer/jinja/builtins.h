// Jinja built-ins: filters ("x | trim"), tests ("x is string"), methods of values ("s.strip()",
// "d.items()") and global functions (range, namespace, dict, raise_exception, strftime_now), with the
// semantics of jinja2 3.x and Python 3 (strings are sequences of code points; str.strip() removes what
// str.isspace() calls space; tojson is transformers' json.dumps(ensure_ascii=False) override).
//
// Filters: abs attr capitalize count d default dictsort e escape first float indent int items join last
//   length list lower map max min reject rejectattr replace reverse round safe select selectattr sort string
//   sum title tojson trim unique upper wordcount
// Tests: boolean callable defined divisibleby eq equalto escaped even false float ge gt in integer iterable
//   le lower lt mapping ne none number odd sameas sequence string true undefined upper == != < <= > >=
// Methods: str: strip lstrip rstrip split rsplit splitlines startswith endswith upper lower title capitalize
//   replace find rfind count join isdigit isalpha isalnum isspace isupper islower format-free;
//   dict: items keys values get.
// Misuse (a wrong argument type, a missing argument) throws JinjaError(kType).
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace kvs::tok::jinja {

bool is_filter(std::string_view name);
bool is_test(std::string_view name);

// REQUIRES: is_filter(name) / is_test(name).
Value apply_filter(const std::string& name, const Value& v, const CallArgs& args);
bool apply_test(const std::string& name, const Value& v, const CallArgs& args);

// The bound method `name` of `v` (a function value), or undefined when `v` has none by that name.
Value get_method(const Value& v, const std::string& name);

// The global functions, as (name, function) pairs.
std::vector<std::pair<std::string, Value>> global_functions();

// Code-point helpers shared by the built-ins and the interpreter.
std::vector<char32_t> code_points(const std::string& s);
std::string from_code_points(const std::vector<char32_t>& cps, size_t begin, size_t end);
// Python len(): code points of a string, items of a list or dict; TypeError otherwise (0 for undefined).
int64_t py_len(const Value& v);
// Python iteration: list items, dict keys, string characters; empty for undefined; TypeError otherwise.
List iterate(const Value& v);

}  // namespace kvs::tok::jinja
