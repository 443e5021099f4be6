#include "tokenizer/jinja/parser.h"

#include <initializer_list>
#include <string_view>

#include "tokenizer/jinja/builtins.h"

namespace kvs::tok::jinja {

namespace {

using K = Token::Kind;

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  Body parse_template() {
    Body body = parse_body({});
    if (cur().kind != K::kEof) fail("unexpected '{% " + t_[pos_].text + " %}'");
    return body;
  }

 private:
  const Token& cur() const { return t_[pos_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(pos_ + k, t_.size() - 1)]; }
  void next() { if (pos_ + 1 < t_.size()) ++pos_; }
  bool is_op(std::string_view op) const { return cur().kind == K::kOp && cur().text == op; }
  bool is_name(std::string_view n) const { return cur().kind == K::kName && cur().text == n; }
  bool accept_op(std::string_view op) { if (!is_op(op)) return false; next(); return true; }
  bool accept_name(std::string_view n) { if (!is_name(n)) return false; next(); return true; }

  [[noreturn]] void fail(const std::string& msg) const {
    throw JinjaError(JinjaError::Kind::kUnsupported,
                     "template error at line " + std::to_string(cur().line) + ": " + msg);
  }
  std::string describe() const {
    switch (cur().kind) {
      case K::kEof: return "end of template";
      case K::kVarEnd: return "'}}'";
      case K::kBlockEnd: return "'%}'";
      case K::kText: return "text";
      case K::kString: return "string literal";
      default: return "'" + cur().text + "'";
    }
  }
  void expect_op(std::string_view op) { if (!accept_op(op)) fail("expected '" + std::string(op) + "', got " + describe()); }
  void expect(K k, const char* what) {
    if (cur().kind != k) fail(std::string("expected ") + what + ", got " + describe());
    next();
  }
  std::string expect_name() {
    if (cur().kind != K::kName) fail("expected a name, got " + describe());
    std::string n = cur().text;
    next();
    return n;
  }
  ExprPtr node(Expr::Kind k) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = cur().line;
    return e;
  }

  // Statements until a block tag named in `ends` (left unconsumed: the caller reads it) or the end.
  Body parse_body(std::initializer_list<std::string_view> ends) {
    Body body;
    for (;;) {
      const Token& t = cur();
      if (t.kind == K::kEof) {
        if (ends.size()) fail("missing '{% " + std::string(*ends.begin()) + " %}'");
        return body;
      }
      if (t.kind == K::kText) {
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::Kind::kText;
        s->line = t.line;
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.kind == K::kVarBegin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::Kind::kOutput;
        s->line = t.line;
        s->expr = parse_expression();
        expect(K::kVarEnd, "'}}'");
        body.push_back(std::move(s));
      } else if (t.kind == K::kBlockBegin) {
        const Token& n = peek();
        if (n.kind != K::kName) { next(); fail("expected a statement name after '{%'"); }
        for (std::string_view e : ends)
          if (n.text == e) { next(); return body; }  // positioned on the name
        next();
        body.push_back(parse_statement());
      } else {
        fail("unexpected " + describe());
      }
    }
  }

  void end_tag() { expect(K::kBlockEnd, "'%}'"); }

  std::unique_ptr<Stmt> parse_statement() {
    auto s = std::make_unique<Stmt>();
    s->line = cur().line;
    const std::string kw = expect_name();
    if (kw == "if") return parse_if(std::move(s));
    if (kw == "for") return parse_for(std::move(s));
    if (kw == "set") return parse_set(std::move(s));
    if (kw == "macro") return parse_macro(std::move(s));
    if (kw == "break" || kw == "continue") {
      s->kind = kw == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
      end_tag();
      return s;
    }
    if (kw == "generation") {  // transformers' assistant-mask marker: renders its body
      end_tag();
      s->kind = Stmt::Kind::kIf;
      auto t = node(Expr::Kind::kLiteral);
      t->value = Value(true);
      s->branches.emplace_back(std::move(t), parse_body({"endgeneration"}));
      expect_name();
      end_tag();
      return s;
    }
    --pos_;
    fail("unsupported statement '{% " + kw + " %}'");
  }

  std::unique_ptr<Stmt> parse_if(std::unique_ptr<Stmt> s) {
    s->kind = Stmt::Kind::kIf;
    for (;;) {
      ExprPtr cond = parse_expression();
      end_tag();
      Body b = parse_body({"elif", "else", "endif"});
      s->branches.emplace_back(std::move(cond), std::move(b));
      const std::string kw = expect_name();
      if (kw == "elif") continue;
      if (kw == "else") {
        end_tag();
        s->else_body = parse_body({"endif"});
        expect_name();
      }
      end_tag();
      return s;
    }
  }

  std::unique_ptr<Stmt> parse_for(std::unique_ptr<Stmt> s) {
    s->kind = Stmt::Kind::kFor;
    do s->targets.push_back(expect_name());
    while (accept_op(","));
    if (!accept_name("in")) fail("expected 'in' in a for loop, got " + describe());
    s->expr = parse_or();  // no conditional expression here: "if" filters the loop
    if (is_op(",")) {
      auto tup = node(Expr::Kind::kTuple);
      tup->items.push_back(std::move(s->expr));
      while (accept_op(",")) tup->items.push_back(parse_or());
      s->expr = std::move(tup);
    }
    if (accept_name("if")) s->cond = parse_expression();
    if (is_name("recursive")) fail("recursive loops are not supported");
    end_tag();
    s->body = parse_body({"else", "endfor"});
    if (expect_name() == "else") {
      end_tag();
      s->else_body = parse_body({"endfor"});
      expect_name();
    }
    end_tag();
    return s;
  }

  std::unique_ptr<Stmt> parse_set(std::unique_ptr<Stmt> s) {
    s->kind = Stmt::Kind::kSet;
    s->targets.push_back(expect_name());
    if (accept_op(".")) {
      s->attr = expect_name();
    } else {
      while (accept_op(",")) s->targets.push_back(expect_name());
    }
    if (cur().kind == K::kBlockEnd && s->targets.size() == 1 && s->attr.empty()) {
      s->kind = Stmt::Kind::kSetBlock;
      end_tag();
      s->body = parse_body({"endset"});
      expect_name();
      end_tag();
      return s;
    }
    expect_op("=");
    s->expr = parse_tuple_or_expression();
    end_tag();
    return s;
  }

  std::unique_ptr<Stmt> parse_macro(std::unique_ptr<Stmt> s) {
    s->kind = Stmt::Kind::kMacro;
    s->name = expect_name();
    expect_op("(");
    while (!accept_op(")")) {
      if (!s->params.empty()) expect_op(",");
      std::string p = expect_name();
      ExprPtr def;
      if (accept_op("=")) def = parse_expression();
      s->params.emplace_back(std::move(p), std::move(def));
    }
    end_tag();
    s->body = parse_body({"endmacro"});
    expect_name();
    end_tag();
    return s;
  }

  ExprPtr parse_tuple_or_expression() {
    ExprPtr e = parse_expression();
    if (!is_op(",")) return e;
    auto tup = node(Expr::Kind::kTuple);
    tup->items.push_back(std::move(e));
    while (accept_op(",")) tup->items.push_back(parse_expression());
    return tup;
  }

  ExprPtr binary(std::string op, ExprPtr a, ExprPtr b) {
    auto e = node(Expr::Kind::kBinary);
    e->op = std::move(op);
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  ExprPtr parse_expression() {
    ExprPtr e = parse_or();
    while (accept_name("if")) {
      auto c = node(Expr::Kind::kCond);
      c->b = parse_or();
      if (accept_name("else")) c->c = parse_expression();
      c->a = std::move(e);
      e = std::move(c);
    }
    return e;
  }
  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (accept_name("or")) e = binary("or", std::move(e), parse_and());
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (accept_name("and")) e = binary("and", std::move(e), parse_not());
    return e;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      auto e = node(Expr::Kind::kUnary);
      next();
      e->op = "not";
      e->a = parse_not();
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    for (;;) {
      if (cur().kind == K::kOp && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                   cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
        std::string op = cur().text;
        next();
        e = binary(op, std::move(e), parse_math1());
      } else if (accept_name("in")) {
        e = binary("in", std::move(e), parse_math1());
      } else if (is_name("not") && peek().kind == K::kName && peek().text == "in") {
        next();
        next();
        e = binary("not in", std::move(e), parse_math1());
      } else {
        return e;
      }
    }
  }
  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = cur().text;
      next();
      e = binary(op, std::move(e), parse_concat());
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (accept_op("~")) e = binary("~", std::move(e), parse_math2());
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = cur().text;
      next();
      e = binary(op, std::move(e), parse_pow());
    }
    return e;
  }
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (accept_op("**")) e = binary("**", std::move(e), parse_unary(true));
    return e;
  }
  ExprPtr parse_unary(bool with_filter) {
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = node(Expr::Kind::kUnary);
      e->op = cur().text;
      next();
      e->a = parse_unary(false);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    if (t.kind == K::kName) {
      auto e = node(Expr::Kind::kLiteral);
      const std::string& n = t.text;
      if (n == "true" || n == "True") e->value = Value(true);
      else if (n == "false" || n == "False") e->value = Value(false);
      else if (n == "none" || n == "None") e->value = Value::none();
      else { e->kind = Expr::Kind::kName; e->name = n; }
      next();
      return e;
    }
    if (t.kind == K::kString) {
      auto e = node(Expr::Kind::kLiteral);
      std::string s;
      while (cur().kind == K::kString) { s += cur().text; next(); }
      e->value = Value(std::move(s));
      return e;
    }
    if (t.kind == K::kInt || t.kind == K::kFloat) {
      auto e = node(Expr::Kind::kLiteral);
      e->value = t.kind == K::kInt ? Value(t.i) : Value(t.f);
      next();
      return e;
    }
    if (accept_op("(")) {
      if (accept_op(")")) return node(Expr::Kind::kTuple);
      ExprPtr e = parse_expression();
      if (is_op(",")) {
        auto tup = node(Expr::Kind::kTuple);
        tup->items.push_back(std::move(e));
        while (accept_op(",") && !is_op(")")) tup->items.push_back(parse_expression());
        e = std::move(tup);
      }
      expect_op(")");
      return e;
    }
    if (accept_op("[")) {
      auto e = node(Expr::Kind::kList);
      while (!accept_op("]")) {
        if (!e->items.empty()) { expect_op(","); if (accept_op("]")) break; }
        e->items.push_back(parse_expression());
      }
      return e;
    }
    if (accept_op("{")) {
      auto e = node(Expr::Kind::kDict);
      while (!accept_op("}")) {
        if (!e->items.empty()) { expect_op(","); if (accept_op("}")) break; }
        e->keys.push_back(parse_expression());
        expect_op(":");
        e->items.push_back(parse_expression());
      }
      return e;
    }
    fail("unexpected " + describe() + " in an expression");
  }

  void parse_args(Expr& call) {  // after '('
    while (!accept_op(")")) {
      if (!call.items.empty() || !call.kwargs.empty()) { expect_op(","); if (accept_op(")")) break; }
      if (cur().kind == K::kName && peek().kind == K::kOp && peek().text == "=") {
        std::string k = cur().text;
        next();
        next();
        call.kwargs.emplace_back(std::move(k), parse_expression());
      } else {
        if (!call.kwargs.empty()) fail("positional argument after a keyword argument");
        call.items.push_back(parse_expression());
      }
    }
  }

  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      if (accept_op(".")) {
        auto g = node(Expr::Kind::kGetAttr);
        if (cur().kind == K::kInt) { g->kind = Expr::Kind::kGetItem; g->b = node(Expr::Kind::kLiteral); g->b->value = Value(cur().i); next(); }
        else g->name = expect_name();
        g->a = std::move(e);
        e = std::move(g);
      } else if (accept_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (accept_op("(")) {
        auto c = node(Expr::Kind::kCall);
        c->a = std::move(e);
        parse_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr e) {  // after '['
    auto g = node(Expr::Kind::kGetItem);
    g->a = std::move(e);
    ExprPtr start;
    if (!is_op(":")) start = parse_expression();
    if (accept_op(":")) {
      g->kind = Expr::Kind::kSlice;
      g->b = std::move(start);
      if (!is_op("]") && !is_op(":")) g->c = parse_expression();
      if (accept_op(":") && !is_op("]")) g->d = parse_expression();
    } else {
      g->b = std::move(start);
    }
    expect_op("]");
    return g;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    for (;;) {
      if (accept_op("|")) {
        auto f = node(Expr::Kind::kFilter);
        f->name = expect_name();
        if (!is_filter(f->name)) { --pos_; fail("unsupported filter '" + f->name + "'"); }
        if (accept_op("(")) parse_args(*f);
        f->a = std::move(e);
        e = std::move(f);
      } else if (accept_name("is")) {
        auto t = node(Expr::Kind::kTest);
        if (accept_name("not")) t->op = "not";
        t->name = expect_name();
        if (!is_test(t->name)) { --pos_; fail("unsupported test '" + t->name + "'"); }
        if (accept_op("(")) {
          parse_args(*t);
        } else if ((cur().kind == K::kName || cur().kind == K::kString || cur().kind == K::kInt ||
                    cur().kind == K::kFloat || is_op("(") || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          t->items.push_back(parse_postfix(parse_primary()));
        }
        t->a = std::move(e);
        e = std::move(t);
      } else if (accept_op("(")) {
        auto c = node(Expr::Kind::kCall);
        c->a = std::move(e);
        parse_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  const std::vector<Token>& t_;
  size_t pos_ = 0;
};

}  // namespace

Body parse(const std::vector<Token>& tokens) { return Parser(tokens).parse_template(); }

}  // namespace kvs::tok::jinja
