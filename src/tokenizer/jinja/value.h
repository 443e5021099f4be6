// Jinja values: the Python objects a chat template sees (jinja2 runs on Python, so templates rely on Python's
// semantics: truthiness, ==, str(), repr() inside lists, code-point indexing of strings).
//
// Invariants: a Value is one of undefined (carries the name that was looked up, for error messages), none,
// bool, int (int64), float (double), string (UTF-8 bytes), list, dict or function. Lists and dicts are shared
// by reference like Python objects (copying a Value copies the reference), so `{% set ns.x = 1 %}` on a
// namespace is seen by every holder. Dicts keep insertion order and have string keys only.
// Errors: operations on values that Python/jinja2 would reject throw JinjaError (caught by Template::render,
// which turns it into a Status; the exception never leaves the jinja folder).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvs::tok::jinja {

// A rendering error: a TypeError-like misuse, an undefined variable used as a value, or raise_exception().
class JinjaError : public std::runtime_error {
 public:
  enum class Kind { kType, kRaised, kUnsupported };  // kUnsupported: syntax errors too
  JinjaError(Kind kind, const std::string& msg) : std::runtime_error(msg), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};
[[noreturn]] void type_error(const std::string& msg);

class Value;
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // Positional `i` or keyword `name`; undefined when neither was passed.
  const Value* get(size_t i, std::string_view name) const;
};
using Function = std::function<Value(const CallArgs&)>;

struct Dict;
using List = std::vector<Value>;

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() = default;  // undefined
  static Value undefined(std::string name) { Value v; v.s_ = std::move(name); return v; }
  static Value none() { Value v; v.k_ = Kind::kNone; return v; }
  Value(bool b) : k_(Kind::kBool), i_(b) {}                        // NOLINT
  Value(int64_t i) : k_(Kind::kInt), i_(i) {}                      // NOLINT
  Value(int i) : k_(Kind::kInt), i_(i) {}                          // NOLINT
  Value(double f) : k_(Kind::kFloat), f_(f) {}                     // NOLINT
  Value(std::string s) : k_(Kind::kString), s_(std::move(s)) {}    // NOLINT
  Value(const char* s) : k_(Kind::kString), s_(s) {}               // NOLINT
  Value(List l) : k_(Kind::kList), l_(std::make_shared<List>(std::move(l))) {}  // NOLINT
  static Value tuple(List l) { Value v(std::move(l)); v.i_ = 1; return v; }  // a list that prints as (a, b)
  Value(std::shared_ptr<Dict> d) : k_(Kind::kDict), d_(std::move(d)) {}          // NOLINT
  static Value function(Function f) { Value v; v.k_ = Kind::kFunction; v.fn_ = std::make_shared<Function>(std::move(f)); return v; }

  Kind kind() const { return k_; }
  bool is_undefined() const { return k_ == Kind::kUndefined; }
  bool is_none() const { return k_ == Kind::kNone; }
  bool is_bool() const { return k_ == Kind::kBool; }
  bool is_int() const { return k_ == Kind::kInt; }
  bool is_float() const { return k_ == Kind::kFloat; }
  bool is_number() const { return k_ == Kind::kInt || k_ == Kind::kFloat || k_ == Kind::kBool; }
  bool is_string() const { return k_ == Kind::kString; }
  bool is_list() const { return k_ == Kind::kList; }
  bool is_tuple() const { return k_ == Kind::kList && i_ == 1; }
  bool is_dict() const { return k_ == Kind::kDict; }
  bool is_function() const { return k_ == Kind::kFunction; }

  bool as_bool() const { return i_ != 0; }
  int64_t as_int() const { return i_; }  // REQUIRES: int or bool
  double as_double() const { return k_ == Kind::kFloat ? f_ : static_cast<double>(i_); }  // REQUIRES: number
  const std::string& str() const { return s_; }       // REQUIRES: string (undefined: the name looked up)
  List& list() const { return *l_; }                  // REQUIRES: list
  Dict& dict() const { return *d_; }                  // REQUIRES: dict
  const Function& fn() const { return *fn_; }         // REQUIRES: function

  bool truthy() const;
  // Python str(): what {{ v }} prints ("" for undefined, "None", "True", "[1, 'a']").
  std::string to_string() const;
  // Python repr() (strings quoted).
  std::string repr() const;
  // json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=False) (indent < 0: none). Throws for
  // undefined and functions.
  std::string to_json(int indent = -1) const;
  // A short type name for messages ("str", "int", "list", ...).
  const char* type_name() const;

 private:
  Kind k_ = Kind::kUndefined;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<List> l_;
  std::shared_ptr<Dict> d_;
  std::shared_ptr<Function> fn_;
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  bool is_namespace = false;  // namespace(): attributes may be assigned with {% set ns.x = ... %}
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);
};
std::shared_ptr<Dict> make_dict();

// Python ==.
bool equals(const Value& a, const Value& b);
// Python <, for numbers and strings; TypeError otherwise.
bool less(const Value& a, const Value& b);

// Python str.isspace() for one code point (what str.strip() removes).
bool is_py_space(char32_t cp);

}  // namespace kvs::tok::jinja
