// Methods of values and the global functions (builtins.h).
#include <algorithm>
#include <ctime>

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/utf8.h"

namespace kvs::tok::jinja {

namespace {

const Value& need_arg(const CallArgs& a, size_t i, const char* name, const char* method) {
  const Value* v = a.get(i, name);
  if (!v) type_error(std::string(method) + "() missing argument '" + name + "'");
  return *v;
}

std::vector<std::string> split(const std::string& s, const Value& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep.is_string()) {
    if (sep.str().empty()) type_error("empty separator");
    size_t pos = 0;
    while (maxsplit != 0) {
      const size_t at = s.find(sep.str(), pos);
      if (at == std::string::npos) break;
      out.push_back(s.substr(pos, at - pos));
      pos = at + sep.str().size();
      --maxsplit;
    }
    out.push_back(s.substr(pos));
    return out;
  }
  // Runs of whitespace; leading/trailing whitespace ignored.
  const auto cps = code_points(s);
  size_t i = 0;
  while (i < cps.size()) {
    while (i < cps.size() && is_py_space(cps[i])) ++i;
    if (i == cps.size()) break;
    if (maxsplit == 0) {
      size_t e = cps.size();
      while (e > i && is_py_space(cps[e - 1])) --e;
      out.push_back(from_code_points(cps, i, e));
      break;
    }
    size_t j = i;
    while (j < cps.size() && !is_py_space(cps[j])) ++j;
    out.push_back(from_code_points(cps, i, j));
    --maxsplit;
    i = j;
  }
  return out;
}

bool affix_match(const std::string& s, const Value& arg, bool prefix) {
  auto one = [&](const Value& x) {
    if (!x.is_string()) type_error("startswith/endswith expects a string or a tuple of strings");
    const std::string& p = x.str();
    return p.size() <= s.size() && (prefix ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0);
  };
  if (arg.is_list()) return std::any_of(arg.list().begin(), arg.list().end(), one);
  return one(arg);
}

bool all_cps(const std::string& s, bool (*pred)(char32_t)) {
  const auto cps = code_points(s);
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred);
}

// find / rfind / count / index / join / is* methods of str.
Value string_query(const std::string& s, const std::string& name, const CallArgs& a) {
  if (name == "find" || name == "rfind" || name == "count" || name == "index") {
    const std::string sub = need_arg(a, 0, "sub", name.c_str()).to_string();
    if (name == "count") {
      if (sub.empty()) return Value(static_cast<int64_t>(code_points(s).size()) + 1);
      int64_t n = 0;
      for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
      return Value(n);
    }
    const size_t at = name == "rfind" ? s.rfind(sub) : s.find(sub);
    if (at == std::string::npos) {
      if (name == "index") type_error("substring not found");
      return Value(-1);
    }
    return Value(static_cast<int64_t>(code_points(s.substr(0, at)).size()));
  }
  if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& x : iterate(need_arg(a, 0, "iterable", "join"))) {
      if (!x.is_string()) type_error("join expects strings");
      if (!first) out += s;
      first = false;
      out += x.str();
    }
    return Value(out);
  }
  if (name == "isspace") return Value(all_cps(s, is_py_space));
  if (name == "isdigit") return Value(all_cps(s, [](char32_t c) { return c >= U'0' && c <= U'9'; }));
  if (name == "isalpha") return Value(all_cps(s, [](char32_t c) { return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || c > 0x7F; }));
  if (name == "isalnum") return Value(all_cps(s, [](char32_t c) { return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || (c >= U'0' && c <= U'9') || c > 0x7F; }));
  if (name == "isupper" || name == "islower") {
    const Value u = apply_filter(name == "isupper" ? "upper" : "lower", Value(s), CallArgs{});
    const Value other = apply_filter(name == "isupper" ? "lower" : "upper", Value(s), CallArgs{});
    return Value(u.str() == s && other.str() != s);
  }
  type_error("str has no method '" + name + "'");
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& a) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const auto cps = code_points(s);
    const Value* chars = a.get(0, "chars");
    std::vector<char32_t> set;
    const bool custom = chars && chars->is_string();
    if (custom) set = code_points(chars->str());
    auto strip = [&](char32_t c) { return custom ? std::find(set.begin(), set.end(), c) != set.end() : is_py_space(c); };
    size_t b = 0, e = cps.size();
    if (name != "rstrip") while (b < e && strip(cps[b])) ++b;
    if (name != "lstrip") while (e > b && strip(cps[e - 1])) --e;
    return Value(from_code_points(cps, b, e));
  }
  if (name == "split" || name == "rsplit") {
    const Value* sep = a.get(0, "sep");
    const Value* max = a.get(1, "maxsplit");
    const int64_t m = max && max->is_int() ? max->as_int() : -1;
    if (name == "rsplit" && m >= 0) type_error("rsplit with maxsplit is not supported");
    List out;
    for (auto& part : split(s, sep ? *sep : Value::none(), m)) out.emplace_back(std::move(part));
    return Value(std::move(out));
  }
  if (name == "splitlines") {
    List out;
    size_t pos = 0;
    while (pos < s.size()) {
      const size_t nl = s.find('\n', pos);
      if (nl == std::string::npos) { out.emplace_back(s.substr(pos)); break; }
      out.emplace_back(s.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return Value(std::move(out));
  }
  if (name == "startswith" || name == "endswith") return Value(affix_match(s, need_arg(a, 0, "prefix", name.c_str()), name == "startswith"));
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") return apply_filter(name, Value(s), CallArgs{});
  if (name == "replace") return apply_filter("replace", Value(s), a);
  return string_query(s, name, a);
}

Value dict_method(const Value& d, const std::string& name, const CallArgs& a) {
  if (name == "items") return apply_filter("items", d, CallArgs{});
  if (name == "keys" || name == "values") {
    List out;
    for (const auto& [k, v] : d.dict().items) out.push_back(name == "keys" ? Value(k) : v);
    return Value(std::move(out));
  }
  if (name == "get") {
    const Value& key = need_arg(a, 0, "key", "get");
    const Value* def = a.get(1, "default");
    const Value* v = key.is_string() ? d.dict().find(key.str()) : nullptr;
    return v ? *v : (def ? *def : Value::none());
  }
  type_error("dict has no method '" + name + "'");
}

bool is_string_method(const std::string& n) {
  static const char* const k[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith",
                                  "endswith", "upper", "lower", "title", "capitalize", "replace", "find", "rfind",
                                  "count", "index", "join", "isspace", "isdigit", "isalpha", "isalnum", "isupper",
                                  "islower"};
  return std::find(std::begin(k), std::end(k), n) != std::end(k);
}

Value range_fn(const CallArgs& a) {
  for (const Value& v : a.pos)
    if (!v.is_int()) type_error("range() expects integers");
  int64_t start = 0, stop = 0, step = 1;
  if (a.pos.size() == 1) stop = a.pos[0].as_int();
  else if (a.pos.size() >= 2) { start = a.pos[0].as_int(); stop = a.pos[1].as_int(); }
  if (a.pos.size() >= 3) step = a.pos[2].as_int();
  if (a.pos.empty() || a.pos.size() > 3 || step == 0) type_error("range() takes 1 to 3 integers, step not 0");
  List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (out.size() >= 100000) type_error("range() longer than 100000 items");
    out.emplace_back(i);
  }
  return Value(std::move(out));
}

Value dict_from_args(const CallArgs& a, bool is_namespace) {
  auto d = make_dict();
  d->is_namespace = is_namespace;
  for (const Value& p : a.pos) {
    if (!p.is_dict()) type_error("expected a dict argument");
    for (const auto& [k, v] : p.dict().items) d->set(k, v);
  }
  for (const auto& [k, v] : a.kw) d->set(k, v);
  return Value(d);
}

}  // namespace

Value get_method(const Value& v, const std::string& name) {
  if (v.is_string() && is_string_method(name)) {
    std::string s = v.str();
    return Value::function([s, name](const CallArgs& a) { return string_method(s, name, a); });
  }
  if (v.is_dict() && !v.dict().is_namespace && (name == "items" || name == "keys" || name == "values" || name == "get")) {
    return Value::function([v, name](const CallArgs& a) { return dict_method(v, name, a); });
  }
  return Value::undefined(name);
}

std::vector<std::pair<std::string, Value>> global_functions() {
  std::vector<std::pair<std::string, Value>> g;
  g.emplace_back("range", Value::function(range_fn));
  g.emplace_back("namespace", Value::function([](const CallArgs& a) { return dict_from_args(a, true); }));
  g.emplace_back("dict", Value::function([](const CallArgs& a) { return dict_from_args(a, false); }));
  g.emplace_back("raise_exception", Value::function([](const CallArgs& a) -> Value {
    throw JinjaError(JinjaError::Kind::kRaised, a.pos.empty() ? std::string("raise_exception()") : a.pos[0].to_string());
  }));
  g.emplace_back("strftime_now", Value::function([](const CallArgs& a) {
    const std::string fmt = a.pos.empty() ? std::string("%Y-%m-%d") : a.pos[0].to_string();
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[256];
    const size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
    return Value(std::string(buf, n));
  }));
  return g;
}

}  // namespace kvs::tok::jinja
