// Filters and tests (builtins.h).
#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/utf8.h"

namespace kvs::tok::jinja {

std::vector<char32_t> code_points(const std::string& s) {
  std::vector<char32_t> cps;
  std::vector<uint32_t> offs;
  decode_utf8(s, cps, offs);
  return cps;
}

std::string from_code_points(const std::vector<char32_t>& cps, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end && i < cps.size(); ++i) append_utf8(out, cps[i]);
  return out;
}

int64_t py_len(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return static_cast<int64_t>(code_points(v.str()).size());
    case Value::Kind::kList: return static_cast<int64_t>(v.list().size());
    case Value::Kind::kDict: return static_cast<int64_t>(v.dict().items.size());
    default: type_error(std::string("object of type '") + v.type_name() + "' has no len()");
  }
}

List iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return {};
    case Value::Kind::kList: return v.list();
    case Value::Kind::kDict: {
      List keys;
      for (const auto& kv : v.dict().items) keys.emplace_back(kv.first);
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      for (char32_t cp : code_points(v.str())) {
        std::string c;
        append_utf8(c, cp);
        chars.emplace_back(std::move(c));
      }
      return chars;
    }
    default: type_error(std::string("'") + v.type_name() + "' object is not iterable");
  }
}

namespace {

const std::string& need_string(const Value& v, const char* what) {
  if (!v.is_string()) type_error(std::string(what) + " expects a string, got " + v.type_name());
  return v.str();
}

std::string map_case(const std::string& s, bool upper) {
  std::string out;
  for (char32_t cp : code_points(s)) {
    const auto c = static_cast<utf8proc_int32_t>(cp);
    append_utf8(out, static_cast<char32_t>(upper ? utf8proc_toupper(c) : utf8proc_tolower(c)));
  }
  return out;
}

bool is_alnum_cp(char32_t cp) {
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

// jinja2's title: each run of word characters starts upper case, the rest lower case.
std::string title_case(const std::string& s) {
  std::string out;
  bool start = true;
  for (char32_t cp : code_points(s)) {
    const auto c = static_cast<utf8proc_int32_t>(cp);
    const bool word = is_alnum_cp(cp);
    append_utf8(out, static_cast<char32_t>(word ? (start ? utf8proc_toupper(c) : utf8proc_tolower(c)) : c));
    start = !word;
  }
  return out;
}

Value arg_or(const CallArgs& a, size_t i, std::string_view name, Value def) {
  const Value* v = a.get(i, name);
  return v ? *v : def;
}

Value get_attribute_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur.is_dict()) return Value::undefined(part);
    const Value* x = cur.dict().find(part);
    cur = x ? *x : Value::undefined(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

Value strip_filter(const Value& v, const CallArgs& a) {
  const std::vector<char32_t> s = code_points(v.to_string());
  const Value chars = arg_or(a, 0, "chars", Value::none());
  std::vector<char32_t> set;
  if (chars.is_string()) set = code_points(chars.str());
  auto strip = [&](char32_t c) { return chars.is_string() ? std::find(set.begin(), set.end(), c) != set.end() : is_py_space(c); };
  size_t b = 0, e = s.size();
  while (b < e && strip(s[b])) ++b;
  while (e > b && strip(s[e - 1])) --e;
  return Value(from_code_points(s, b, e));
}

Value join_filter(const Value& v, const CallArgs& a) {
  const std::string sep = arg_or(a, 0, "d", Value("")).to_string();
  const Value attr = arg_or(a, 1, "attribute", Value::none());
  std::string out;
  bool first = true;
  for (const Value& x : iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += (attr.is_string() ? get_attribute_path(x, attr.str()) : x).to_string();
  }
  return Value(out);
}

Value sort_filter(const Value& v, const CallArgs& a) {
  List items = iterate(v);
  const bool reverse = arg_or(a, 0, "reverse", Value(false)).truthy();
  const bool case_sensitive = arg_or(a, 1, "case_sensitive", Value(false)).truthy();
  const Value attr = arg_or(a, 2, "attribute", Value::none());
  auto key = [&](const Value& x) {
    Value k = attr.is_string() ? get_attribute_path(x, attr.str()) : x;
    if (!case_sensitive && k.is_string()) k = Value(map_case(k.str(), false));
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? less(key(y), key(x)) : less(key(x), key(y));
  });
  return Value(std::move(items));
}

Value select_filter(const std::string& name, const Value& v, const CallArgs& a) {
  const bool by_attr = name == "selectattr" || name == "rejectattr";
  const bool keep = name == "select" || name == "selectattr";
  size_t i = 0;
  std::string attr;
  if (by_attr) {
    if (a.pos.empty()) type_error(name + " needs an attribute name");
    attr = need_string(a.pos[i++], name.c_str());
  }
  std::string test;
  CallArgs targs;
  if (i < a.pos.size()) {
    test = need_string(a.pos[i++], name.c_str());
    if (!is_test(test)) type_error("no test named '" + test + "'");
    targs.pos.assign(a.pos.begin() + static_cast<long>(i), a.pos.end());
  }
  List out;
  for (const Value& x : iterate(v)) {
    const Value subject = by_attr ? get_attribute_path(x, attr) : x;
    const bool pass = test.empty() ? subject.truthy() : apply_test(test, subject, targs);
    if (pass == keep) out.push_back(x);
  }
  return Value(std::move(out));
}

Value map_filter(const Value& v, const CallArgs& a) {
  List out;
  const Value* attr = a.get(99, "attribute");
  if (attr) {
    const Value def = arg_or(a, 99, "default", Value());
    for (const Value& x : iterate(v)) {
      Value r = get_attribute_path(x, attr->to_string());
      out.push_back(r.is_undefined() && !def.is_undefined() ? def : r);
    }
    return Value(std::move(out));
  }
  if (a.pos.empty()) type_error("map needs a filter name or attribute=");
  const std::string f = need_string(a.pos[0], "map");
  if (!is_filter(f)) type_error("no filter named '" + f + "'");
  CallArgs fargs;
  fargs.pos.assign(a.pos.begin() + 1, a.pos.end());
  fargs.kw = a.kw;
  for (const Value& x : iterate(v)) out.push_back(apply_filter(f, x, fargs));
  return Value(std::move(out));
}

Value indent_filter(const Value& v, const CallArgs& a) {
  const Value w = arg_or(a, 0, "width", Value(4));
  const std::string pad = w.is_string() ? w.str() : std::string(static_cast<size_t>(std::max<int64_t>(0, w.as_int())), ' ');
  const bool first = arg_or(a, 1, "first", Value(false)).truthy();
  const bool blank = arg_or(a, 2, "blank", Value(false)).truthy();
  const std::string s = v.to_string();
  std::string out;
  size_t start = 0;
  bool is_first = true;
  while (start <= s.size()) {
    const size_t nl = s.find('\n', start);
    const std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if ((!is_first || first) && (blank || !line.empty())) out += pad;
    out += line;
    if (nl == std::string::npos) break;
    out += '\n';
    start = nl + 1;
    is_first = false;
  }
  return Value(out);
}

Value number_reduce(const std::string& name, const Value& v, const CallArgs& a) {
  List items = iterate(v);
  if (name == "sum") {
    Value acc = arg_or(a, 1, "start", Value(0));
    for (const Value& x : items) {
      if (!x.is_number() || !acc.is_number()) type_error("sum of non-numbers");
      acc = (acc.is_float() || x.is_float()) ? Value(acc.as_double() + x.as_double()) : Value(acc.as_int() + x.as_int());
    }
    return acc;
  }
  if (items.empty()) return Value::undefined(name);
  Value best = items[0];
  for (const Value& x : items)
    if (name == "min" ? less(x, best) : less(best, x)) best = x;
  return best;
}

Value escape(const Value& v) {
  std::string out;
  for (char c : v.to_string()) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value(out);
}

Value int_filter(const Value& v, const CallArgs& a) {
  const Value def = arg_or(a, 0, "default", Value(0));
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) return Value(static_cast<int64_t>(std::trunc(v.as_double())));
  if (v.is_string()) {
    try {
      size_t used = 0;
      const int64_t i = std::stoll(v.str(), &used);
      if (used == v.str().size()) return Value(i);
      const double f = std::stod(v.str(), &used);
      if (used == v.str().size()) return Value(static_cast<int64_t>(std::trunc(f)));
    } catch (const std::exception&) {
    }
  }
  return def;
}

}  // namespace

bool is_filter(std::string_view n) {
  static const std::set<std::string_view> k = {
      "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "indent",
      "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr",
      "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum", "title", "tojson",
      "trim", "unique", "upper", "wordcount"};
  return k.count(n) > 0;
}

bool is_test(std::string_view n) {
  static const std::set<std::string_view> k = {
      "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "float", "ge",
      "gt", "in", "integer", "iterable", "le", "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas",
      "sequence", "string", "true", "undefined", "upper", "==", "!=", "<", "<=", ">", ">="};
  return k.count(n) > 0;
}

namespace {

// Text filters: trim, length, case, default, tojson.
std::optional<Value> text_filter(const std::string& n, const Value& v, const CallArgs& a) {
  if (n == "trim") return strip_filter(v, a);
  if (n == "length" || n == "count") return Value(py_len(v));
  if (n == "upper" || n == "lower") return Value(map_case(v.to_string(), n == "upper"));
  if (n == "title") return Value(title_case(v.to_string()));
  if (n == "capitalize") {
    const std::string s = v.to_string();
    const auto cps = code_points(s);
    if (cps.empty()) return Value("");
    std::string first;
    append_utf8(first, static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(cps[0]))));
    return Value(first + map_case(from_code_points(cps, 1, cps.size()), false));
  }
  if (n == "default" || n == "d") {
    const Value def = arg_or(a, 0, "default_value", Value(""));
    const bool boolean = arg_or(a, 1, "boolean", Value(false)).truthy();
    return (v.is_undefined() || (boolean && !v.truthy())) ? def : v;
  }
  if (n == "tojson") {
    const Value ind = arg_or(a, 0, "indent", Value::none());
    return Value(v.to_json(ind.is_int() ? static_cast<int>(ind.as_int()) : -1));
  }
  return std::nullopt;
}

// Sequence filters: join, first/last, list, string, safe, escape.
std::optional<Value> sequence_filter(const std::string& n, const Value& v, const CallArgs& a) {
  if (n == "join") return join_filter(v, a);
  if (n == "first" || n == "last") {
    List items = iterate(v);
    if (items.empty()) return Value::undefined(n);
    return n == "first" ? items.front() : items.back();
  }
  if (n == "list") return Value(iterate(v));
  if (n == "string") return Value(v.to_string());
  if (n == "safe") return v;
  if (n == "e" || n == "escape") return escape(v);
  return std::nullopt;
}

// Number filters: int, float, abs, round.
std::optional<Value> number_filter(const std::string& n, const Value& v, const CallArgs& a) {
  if (n == "int") return int_filter(v, a);
  if (n == "float") {
    if (v.is_number()) return Value(v.as_double());
    try { return Value(std::stod(v.to_string())); } catch (const std::exception&) { return arg_or(a, 0, "default", Value(0.0)); }
  }
  if (n == "abs") {
    if (v.is_float()) return Value(std::fabs(v.as_double()));
    if (v.is_number()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    type_error("abs of a non-number");
  }
  if (n == "round") {
    if (!v.is_number()) type_error("round of a non-number");
    const int64_t prec = arg_or(a, 0, "precision", Value(0)).as_int();
    const double m = std::pow(10.0, static_cast<double>(prec));
    return Value(std::round(v.as_double() * m) / m);
  }
  return std::nullopt;
}

// The rest: replace, reverse, sort, unique, items, attr, map, select..., sum/min/max, indent, wordcount.
std::optional<Value> other_filter(const std::string& n, const Value& v, const CallArgs& a) {
  if (n == "replace") {
    std::string s = v.to_string();
    const std::string from = arg_or(a, 0, "old", Value("")).to_string(), to = arg_or(a, 1, "new", Value("")).to_string();
    int64_t count = arg_or(a, 2, "count", Value(-1)).as_int();
    std::string out;
    size_t pos = 0;
    while (count != 0) {
      const size_t at = from.empty() ? (pos <= s.size() ? pos : std::string::npos) : s.find(from, pos);
      if (at == std::string::npos) break;
      out += s.substr(pos, at - pos) + to;
      if (from.empty()) {
        if (at < s.size()) out += s[at];
        pos = at + 1;
      } else {
        pos = at + from.size();
      }
      --count;
    }
    if (pos <= s.size()) out += s.substr(pos);
    return Value(out);
  }
  if (n == "reverse") {
    if (v.is_string()) {
      auto cps = code_points(v.str());
      std::reverse(cps.begin(), cps.end());
      return Value(from_code_points(cps, 0, cps.size()));
    }
    List items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value(std::move(items));
  }
  if (n == "sort") return sort_filter(v, a);
  if (n == "unique") {
    List out;
    for (const Value& x : iterate(v))
      if (std::none_of(out.begin(), out.end(), [&](const Value& y) { return equals(x, y); })) out.push_back(x);
    return Value(std::move(out));
  }
  if (n == "items" || n == "dictsort") {
    if (v.is_undefined()) return Value(List{});
    if (!v.is_dict()) type_error(n + " expects a dict, got " + std::string(v.type_name()));
    List out;
    for (const auto& [k, x] : v.dict().items) out.push_back(Value::tuple(List{Value(k), x}));
    if (n == "dictsort") std::stable_sort(out.begin(), out.end(), [](const Value& x, const Value& y) { return less(x.list()[0], y.list()[0]); });
    return Value(std::move(out));
  }
  if (n == "attr") {  // getattr only: a dict's items are not attributes (a namespace's are)
    const std::string name = arg_or(a, 0, "name", Value("")).to_string();
    if (v.is_dict() && v.dict().is_namespace) return get_attribute_path(v, name);
    return get_method(v, name);
  }
  if (n == "map") return map_filter(v, a);
  if (n == "select" || n == "reject" || n == "selectattr" || n == "rejectattr") return select_filter(n, v, a);
  if (n == "sum" || n == "min" || n == "max") return number_reduce(n, v, a);
  if (n == "indent") return indent_filter(v, a);
  if (n == "wordcount") {
    int64_t words = 0;
    bool in_word = false;
    for (char32_t cp : code_points(v.to_string())) {
      const bool w = is_alnum_cp(cp) || cp == U'_';
      if (w && !in_word) ++words;
      in_word = w;
    }
    return Value(words);
  }
  return std::nullopt;
}

}  // namespace

Value apply_filter(const std::string& n, const Value& v, const CallArgs& a) {
  for (auto* f : {text_filter, sequence_filter, number_filter, other_filter})
    if (std::optional<Value> r = f(n, v, a)) return *std::move(r);
  type_error("filter '" + n + "' is not implemented");
}

bool apply_test(const std::string& n, const Value& v, const CallArgs& a) {
  const Value arg = a.pos.empty() ? Value() : a.pos[0];
  if (n == "defined") return !v.is_undefined();
  if (n == "undefined") return v.is_undefined();
  if (n == "none") return v.is_none();
  if (n == "boolean") return v.is_bool();
  if (n == "true") return v.is_bool() && v.as_bool();
  if (n == "false") return v.is_bool() && !v.as_bool();
  if (n == "string") return v.is_string();
  if (n == "number") return v.is_number();
  if (n == "integer") return v.is_int();
  if (n == "float") return v.is_float();
  if (n == "mapping") return v.is_dict();
  if (n == "iterable") return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
  if (n == "sequence") return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
  if (n == "callable") return v.is_function();
  if (n == "escaped") return false;
  if (n == "odd" || n == "even") {
    if (!v.is_int() && !v.is_bool()) type_error("odd/even of a non-integer");
    const bool odd = (v.as_int() % 2) != 0;
    return n == "odd" ? odd : !odd;
  }
  if (n == "divisibleby") {
    if (!v.is_number() || !arg.is_number() || arg.as_int() == 0) type_error("divisibleby needs a non-zero number");
    return v.as_int() % arg.as_int() == 0;
  }
  if (n == "lower" || n == "upper") {
    const std::string s = v.to_string();
    return s == map_case(s, n == "upper");
  }
  if (n == "eq" || n == "equalto" || n == "==") return equals(v, arg);
  if (n == "ne" || n == "!=") return !equals(v, arg);
  if (n == "lt" || n == "<") return less(v, arg);
  if (n == "le" || n == "<=") return !less(arg, v);
  if (n == "gt" || n == ">") return less(arg, v);
  if (n == "ge" || n == ">=") return !less(v, arg);
  if (n == "sameas") {
    if (v.kind() != arg.kind()) return false;
    if (v.is_list()) return &v.list() == &arg.list();
    if (v.is_dict()) return &v.dict() == &arg.dict();
    return equals(v, arg) && !v.is_string();
  }
  if (n == "in") {
    if (arg.is_string()) return v.is_string() && arg.str().find(v.str()) != std::string::npos;
    for (const Value& x : iterate(arg))
      if (equals(x, v)) return true;
    return false;
  }
  type_error("test '" + n + "' is not implemented");
}

}  // namespace kvs::tok::jinja
