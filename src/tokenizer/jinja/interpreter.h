// Jinja interpreter: runs a parsed template (ast.h) over variables, appending to an output string.
//
// Scoping as jinja2: the template's top level is one frame (the variables passed in, the globals, and its
// own {% set %}s); each for-loop iteration and each macro call gets a frame of its own, so a {% set %} inside
// them is not seen after them (templates use namespace() for that). Lookup goes from the innermost frame out;
// a name found nowhere is undefined (printing it gives "", using it in arithmetic or attribute access is an
// error, "is defined" is false).
// Bounds (fuzzing, hostile templates): output <= 16 MiB, macro call depth <= 64, ranges <= 100,000 items.
// Errors throw JinjaError (Template::render turns them into a Status).
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/jinja/ast.h"

namespace kvs::tok::jinja {

class Interpreter {
 public:
  using Frame = std::unordered_map<std::string, Value>;
  explicit Interpreter(Frame globals) { frames_.push_back(std::move(globals)); }

  // Renders `body` into the output.
  void run(const Body& body);
  std::string& output() { return out_; }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  Flow exec(const Body& body);
  Flow exec_for(const Stmt& s);
  void exec_set(const Stmt& s);
  void define_macro(const Stmt& s);
  Value call_macro(const Stmt& s, const CallArgs& args);
  void emit(const std::string& text);

  Value eval(const Expr& e);
  Value eval_binary(const Expr& e);
  Value eval_getattr(const Value& obj, const std::string& name, int line);
  Value eval_getitem(const Value& obj, const Value& key, int line);
  Value eval_slice(const Expr& e);
  Value eval_call(const Expr& e);
  CallArgs eval_args(const Expr& e);

  Value lookup(const std::string& name) const;
  void assign(const std::string& name, Value v) { frames_.back()[name] = std::move(v); }
  void assign_targets(const std::vector<std::string>& targets, const Value& v, int line);

  std::vector<Frame> frames_;
  std::string out_;
  int depth_ = 0;
};

}  // namespace kvs::tok::jinja
