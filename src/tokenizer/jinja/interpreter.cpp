#include "tokenizer/jinja/interpreter.h"

#include <cmath>

#include "tokenizer/jinja/builtins.h"

namespace kvs::tok::jinja {

namespace {

constexpr size_t kMaxOutput = 16u << 20;
constexpr int kMaxDepth = 64;

[[noreturn]] void fail_at(int line, const std::string& msg) { type_error("line " + std::to_string(line) + ": " + msg); }

[[noreturn]] void undefined_error(const Value& v, int line) { fail_at(line, "'" + v.str() + "' is undefined"); }

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value arith(const std::string& op, const Value& a, const Value& b, int line) {
  if (a.is_undefined()) undefined_error(a, line);
  if (b.is_undefined()) undefined_error(b, line);
  if (op == "+") {
    if (a.is_string() && b.is_string()) return Value(a.str() + b.str());
    if (a.is_list() && b.is_list()) {
      List l = a.list();
      l.insert(l.end(), b.list().begin(), b.list().end());
      return Value(std::move(l));
    }
  }
  if (op == "*" && (a.is_string() || a.is_list() || b.is_string() || b.is_list())) {
    const Value& seq = (a.is_string() || a.is_list()) ? a : b;
    const Value& n = (a.is_string() || a.is_list()) ? b : a;
    if (!n.is_int() && !n.is_bool()) fail_at(line, "can't multiply sequence by non-int");
    const int64_t k = std::max<int64_t>(0, n.as_int());
    if (k * static_cast<int64_t>(seq.is_string() ? seq.str().size() : seq.list().size()) > int64_t{kMaxOutput}) fail_at(line, "sequence too long");
    if (seq.is_string()) {
      std::string s;
      for (int64_t i = 0; i < k; ++i) s += seq.str();
      return Value(s);
    }
    List l;
    for (int64_t i = 0; i < k; ++i) l.insert(l.end(), seq.list().begin(), seq.list().end());
    return Value(std::move(l));
  }
  if (!a.is_number() || !b.is_number()) {
    fail_at(line, std::string("unsupported operand type(s) for ") + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
  }
  const bool fl = a.is_float() || b.is_float();
  if (op == "/") {
    if (b.as_double() == 0) fail_at(line, "division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (op == "**") {
    if (!fl && b.as_int() >= 0) return Value(static_cast<int64_t>(std::pow(static_cast<double>(a.as_int()), static_cast<double>(b.as_int()))));
    return Value(std::pow(a.as_double(), b.as_double()));
  }
  if (fl) {
    const double x = a.as_double(), y = b.as_double();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (y == 0) fail_at(line, "division by zero");
    if (op == "//") return Value(std::floor(x / y));
    const double m = std::fmod(x, y);
    return Value((m != 0 && ((m < 0) != (y < 0))) ? m + y : m);  // %
  }
  const int64_t x = a.as_int(), y = b.as_int();
  if (op == "+") return Value(x + y);
  if (op == "-") return Value(x - y);
  if (op == "*") return Value(x * y);
  if (y == 0) fail_at(line, "integer division or modulo by zero");
  if (op == "//") return Value(floor_div(x, y));
  return Value(x - floor_div(x, y) * y);  // %
}

bool contains(const Value& hay, const Value& needle, int line) {
  if (hay.is_string()) {
    if (!needle.is_string()) fail_at(line, "'in <string>' requires string as left operand");
    return hay.str().find(needle.str()) != std::string::npos;
  }
  if (hay.is_dict()) return needle.is_string() && hay.dict().find(needle.str()) != nullptr;
  for (const Value& x : iterate(hay))
    if (equals(x, needle)) return true;
  return false;
}

// Python slice indices for a sequence of length n.
void slice_indices(int64_t n, const Value& start, const Value& stop, int64_t step, int64_t* b, int64_t* e) {
  auto clamp = [&](const Value& v, int64_t def) {
    if (v.is_none() || v.is_undefined()) return def;
    int64_t i = v.as_int();
    if (i < 0) i += n;
    if (step > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  *b = clamp(start, step > 0 ? 0 : n - 1);
  *e = clamp(stop, step > 0 ? n : -1);
}

}  // namespace

void Interpreter::run(const Body& body) {
  if (exec(body) != Flow::kNormal) type_error("'break' or 'continue' outside a loop");
}

void Interpreter::emit(const std::string& text) {
  if (out_.size() + text.size() > kMaxOutput) type_error("template output exceeds 16 MiB");
  out_ += text;
}

Interpreter::Flow Interpreter::exec(const Body& body) {
  for (const auto& sp : body) {
    const Stmt& s = *sp;
    switch (s.kind) {
      case Stmt::Kind::kText: emit(s.text); break;
      case Stmt::Kind::kOutput: emit(eval(*s.expr).to_string()); break;
      case Stmt::Kind::kIf: {
        const Body* chosen = &s.else_body;
        for (const auto& [cond, b] : s.branches) {
          if (eval(*cond).truthy()) { chosen = &b; break; }
        }
        if (Flow f = exec(*chosen); f != Flow::kNormal) return f;
        break;
      }
      case Stmt::Kind::kFor: {
        if (Flow f = exec_for(s); f != Flow::kNormal) return f;
        break;
      }
      case Stmt::Kind::kSet: exec_set(s); break;
      case Stmt::Kind::kSetBlock: {
        std::string saved;
        saved.swap(out_);
        const Flow f = exec(s.body);
        saved.swap(out_);
        if (f != Flow::kNormal) type_error("'break' or 'continue' inside a set block");
        assign(s.targets[0], Value(std::move(saved)));
        break;
      }
      case Stmt::Kind::kMacro: define_macro(s); break;
      case Stmt::Kind::kBreak: return Flow::kBreak;
      case Stmt::Kind::kContinue: return Flow::kContinue;
    }
  }
  return Flow::kNormal;
}

void Interpreter::assign_targets(const std::vector<std::string>& targets, const Value& v, int line) {
  if (targets.size() == 1) {
    assign(targets[0], v);
    return;
  }
  const List items = iterate(v);
  if (items.size() != targets.size()) {
    fail_at(line, "cannot unpack " + std::to_string(items.size()) + " values into " + std::to_string(targets.size()) + " names");
  }
  for (size_t i = 0; i < targets.size(); ++i) assign(targets[i], items[i]);
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s) {
  const List all = iterate(eval(*s.expr));
  List items;
  if (s.cond) {
    for (const Value& x : all) {
      frames_.emplace_back();
      assign_targets(s.targets, x, s.line);
      const bool keep = eval(*s.cond).truthy();
      frames_.pop_back();
      if (keep) items.push_back(x);
    }
  } else {
    items = all;
  }
  if (items.empty()) return exec(s.else_body);
  const auto n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    auto loop = make_dict();
    loop->set("index0", Value(i));
    loop->set("index", Value(i + 1));
    loop->set("revindex0", Value(n - 1 - i));
    loop->set("revindex", Value(n - i));
    loop->set("first", Value(i == 0));
    loop->set("last", Value(i == n - 1));
    loop->set("length", Value(n));
    loop->set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("previtem"));
    loop->set("nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("nextitem"));
    loop->set("cycle", Value::function([i](const CallArgs& a) {
      if (a.pos.empty()) type_error("loop.cycle() needs arguments");
      return a.pos[static_cast<size_t>(i) % a.pos.size()];
    }));
    frames_.emplace_back();
    assign("loop", Value(loop));
    assign_targets(s.targets, items[static_cast<size_t>(i)], s.line);
    const Flow f = exec(s.body);
    frames_.pop_back();
    if (f == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Interpreter::exec_set(const Stmt& s) {
  Value v = eval(*s.expr);
  if (s.attr.empty()) {
    assign_targets(s.targets, v, s.line);
    return;
  }
  Value ns = lookup(s.targets[0]);
  if (!ns.is_dict() || !ns.dict().is_namespace) fail_at(s.line, "cannot assign attribute on non-namespace object");
  ns.dict().set(s.attr, std::move(v));
}

void Interpreter::define_macro(const Stmt& s) {
  const Stmt* def = &s;
  assign(s.name, Value::function([this, def](const CallArgs& a) { return call_macro(*def, a); }));
}

Value Interpreter::call_macro(const Stmt& s, const CallArgs& a) {
  if (depth_ >= kMaxDepth) fail_at(s.line, "macro calls nested deeper than 64");
  if (a.pos.size() > s.params.size()) fail_at(s.line, "macro '" + s.name + "' takes " + std::to_string(s.params.size()) + " arguments");
  Frame params;
  for (size_t i = 0; i < s.params.size(); ++i) {
    const auto& [name, def] = s.params[i];
    if (const Value* v = a.get(i, name)) params[name] = *v;
    else params[name] = def ? eval(*def) : Value::undefined(name);
  }
  std::vector<Frame> saved_frames;
  saved_frames.swap(frames_);
  frames_.push_back(saved_frames.front());  // the top level as it is now
  frames_.push_back(std::move(params));
  std::string saved_out;
  saved_out.swap(out_);
  ++depth_;
  struct Restore {
    Interpreter* self;
    std::vector<Frame>& frames;
    std::string& out;
    ~Restore() { --self->depth_; self->frames_.swap(frames); self->out_.swap(out); }
  };
  std::string result;
  {
    Restore r{this, saved_frames, saved_out};
    exec(s.body);
    result = out_;
  }
  return Value(std::move(result));
}

Value Interpreter::lookup(const std::string& name) const {
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
    auto f = it->find(name);
    if (f != it->end()) return f->second;
  }
  return Value::undefined(name);
}

Value Interpreter::eval(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kLiteral: return e.value;
    case Expr::Kind::kName: return lookup(e.name);
    case Expr::Kind::kList:
    case Expr::Kind::kTuple: {
      List l;
      for (const auto& x : e.items) l.push_back(eval(*x));
      return e.kind == Expr::Kind::kTuple ? Value::tuple(std::move(l)) : Value(std::move(l));
    }
    case Expr::Kind::kDict: {
      auto d = make_dict();
      for (size_t i = 0; i < e.items.size(); ++i) {
        Value k = eval(*e.keys[i]);
        if (!k.is_string()) fail_at(e.line, "dict keys must be strings here");
        d->set(k.str(), eval(*e.items[i]));
      }
      return Value(d);
    }
    case Expr::Kind::kUnary: {
      Value a = eval(*e.a);
      if (e.op == "not") return Value(!a.truthy());
      if (a.is_undefined()) undefined_error(a, e.line);
      if (!a.is_number()) fail_at(e.line, std::string("bad operand type for unary ") + e.op + ": '" + a.type_name() + "'");
      if (e.op == "+") return a.is_float() ? Value(a.as_double()) : Value(a.as_int());
      return a.is_float() ? Value(-a.as_double()) : Value(-a.as_int());
    }
    case Expr::Kind::kBinary: return eval_binary(e);
    case Expr::Kind::kCond:
      if (eval(*e.b).truthy()) return eval(*e.a);
      return e.c ? eval(*e.c) : Value::undefined("else");
    case Expr::Kind::kGetAttr: return eval_getattr(eval(*e.a), e.name, e.line);
    case Expr::Kind::kGetItem: {
      Value obj = eval(*e.a);
      return eval_getitem(obj, eval(*e.b), e.line);
    }
    case Expr::Kind::kSlice: return eval_slice(e);
    case Expr::Kind::kCall: return eval_call(e);
    case Expr::Kind::kFilter: {
      Value v = eval(*e.a);
      return apply_filter(e.name, v, eval_args(e));
    }
    case Expr::Kind::kTest: {
      Value v = eval(*e.a);
      const bool r = apply_test(e.name, v, eval_args(e));
      return Value(e.op == "not" ? !r : r);
    }
  }
  return Value();
}

Value Interpreter::eval_binary(const Expr& e) {
  const std::string& op = e.op;
  if (op == "and") {
    Value a = eval(*e.a);
    return a.truthy() ? eval(*e.b) : a;
  }
  if (op == "or") {
    Value a = eval(*e.a);
    return a.truthy() ? a : eval(*e.b);
  }
  Value a = eval(*e.a);
  Value b = eval(*e.b);
  if (op == "~") return Value(a.to_string() + b.to_string());
  if (op == "==") return Value(equals(a, b));
  if (op == "!=") return Value(!equals(a, b));
  if (op == "<") return Value(less(a, b));
  if (op == ">") return Value(less(b, a));
  if (op == "<=") return Value(!less(b, a));
  if (op == ">=") return Value(!less(a, b));
  if (op == "in") return Value(contains(b, a, e.line));
  if (op == "not in") return Value(!contains(b, a, e.line));
  return arith(op, a, b, e.line);
}

Value Interpreter::eval_getattr(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  Value m = get_method(obj, name);
  if (!m.is_undefined()) return m;
  if (obj.is_dict()) {
    const Value* v = obj.dict().find(name);
    return v ? *v : Value::undefined(name);
  }
  return Value::undefined(name);
}

Value Interpreter::eval_getitem(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  if (obj.is_dict()) {
    if (key.is_string()) {
      if (const Value* v = obj.dict().find(key.str())) return *v;
      return get_method(obj, key.str());
    }
    return Value::undefined("item");
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    const int64_t n = py_len(obj);
    int64_t i = key.as_int();
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined("item");
    if (obj.is_list()) return obj.list()[static_cast<size_t>(i)];
    const auto cps = code_points(obj.str());
    return Value(from_code_points(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
  }
  if (key.is_string()) return get_method(obj, key.str());
  return Value::undefined("item");
}

Value Interpreter::eval_slice(const Expr& e) {
  Value obj = eval(*e.a);
  if (obj.is_undefined()) undefined_error(obj, e.line);
  Value start = e.b ? eval(*e.b) : Value::none();
  Value stop = e.c ? eval(*e.c) : Value::none();
  Value stepv = e.d ? eval(*e.d) : Value::none();
  for (const Value* v : {&start, &stop, &stepv})
    if (!v->is_none() && !v->is_int()) fail_at(e.line, "slice indices must be integers or None");
  const int64_t step = stepv.is_none() ? 1 : stepv.as_int();
  if (step == 0) fail_at(e.line, "slice step cannot be zero");
  if (!obj.is_list() && !obj.is_string()) fail_at(e.line, std::string("'") + obj.type_name() + "' object is not subscriptable");
  const int64_t n = py_len(obj);
  int64_t b = 0, en = 0;
  slice_indices(n, start, stop, step, &b, &en);
  std::vector<size_t> idx;
  for (int64_t i = b; step > 0 ? i < en : i > en; i += step) idx.push_back(static_cast<size_t>(i));
  if (obj.is_list()) {
    List out;
    for (size_t i : idx) out.push_back(obj.list()[i]);
    return Value(std::move(out));
  }
  const auto cps = code_points(obj.str());
  std::vector<char32_t> out;
  for (size_t i : idx) out.push_back(cps[i]);
  return Value(from_code_points(out, 0, out.size()));
}

CallArgs Interpreter::eval_args(const Expr& e) {
  CallArgs a;
  for (const auto& x : e.items) a.pos.push_back(eval(*x));
  for (const auto& [k, x] : e.kwargs) a.kw.emplace_back(k, eval(*x));
  return a;
}

Value Interpreter::eval_call(const Expr& e) {
  Value f = eval(*e.a);
  if (f.is_undefined()) undefined_error(f, e.line);
  if (!f.is_function()) fail_at(e.line, std::string("'") + f.type_name() + "' object is not callable");
  return f.fn()(eval_args(e));
}

}  // namespace kvs::tok::jinja
