#include "tokenizer/jinja/lexer.h"

#include <cctype>
#include <cstring>

#include "tokenizer/jinja/value.h"
#include "tokenizer/utf8.h"

namespace kvs::tok::jinja {

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

[[noreturn]] void syntax_error(int line, const std::string& msg) {
  throw JinjaError(JinjaError::Kind::kUnsupported, "template syntax error at line " + std::to_string(line) + ": " + msg);
}

std::string normalize_newlines(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out.push_back(src[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : s_(std::move(src)) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < s_.size()) {
      size_t tag = pos_;
      char kind = 0;  // '{' var, '%' block, '#' comment
      while ((tag = s_.find('{', tag)) != std::string::npos) {
        if (tag + 1 < s_.size() && std::strchr("{%#", s_[tag + 1])) {
          kind = s_[tag + 1];
          break;
        }
        ++tag;
      }
      if (tag == std::string::npos) tag = s_.size();
      std::string text = s_.substr(pos_, tag - pos_);
      const char mod = kind && tag + 2 < s_.size() ? s_[tag + 2] : 0;
      if (mod == '-') {
        while (!text.empty() && is_ws(text.back())) text.pop_back();
      } else if ((kind == '%' || kind == '#') && mod != '+') {
        const size_t l = text.rfind('\n') + 1;  // npos + 1 == 0
        if ((l > 0 || line_starting) && text.find_first_not_of(" \t", l) == std::string::npos) text.resize(l);
      }
      add_text(text);
      if (!kind) break;
      pos_ = tag + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      const size_t end_start = pos_;
      if (kind == '#') {
        const size_t e = s_.find("#}", pos_);
        if (e == std::string::npos) syntax_error(line_at(tag), "unterminated comment");
        pos_ = e + 2;
        finish_tag(e > end_start && s_[e - 1] == '-' ? '-' : 0, true);
      } else {
        lex_tag(kind, tag);
      }
      line_starting = pos_ > 0 && s_[pos_ - 1] == '\n';
    }
    out_.push_back(Token{Token::Kind::kEof, "", 0, 0, line_at(s_.size())});
    return std::move(out_);
  }

 private:
  int line_at(size_t p) {
    for (; line_pos_ < p && line_pos_ < s_.size(); ++line_pos_)
      if (s_[line_pos_] == '\n') ++line_;
    return line_;
  }

  void add_text(const std::string& text) {
    if (!text.empty()) out_.push_back(Token{Token::Kind::kText, text, 0, 0, line_at(pos_)});
  }

  // After a tag's closing delimiter: '-' strips the following whitespace, a block/comment trims one newline.
  void finish_tag(char mod, bool block) {
    if (mod == '-') {
      while (pos_ < s_.size() && is_ws(s_[pos_])) ++pos_;
    } else if (block && mod != '+' && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
    }
  }

  void lex_tag(char kind, size_t tag) {
    const int line = line_at(tag);
    out_.push_back(Token{kind == '{' ? Token::Kind::kVarBegin : Token::Kind::kBlockBegin, "", 0, 0, line});
    const char close = kind == '{' ? '}' : '%';
    const size_t first = out_.size();
    int depth = 0;  // open brackets: "}}" inside {'a': {}} does not close the tag (jinja2's balancing)
    for (;;) {
      while (pos_ < s_.size() && is_ws(s_[pos_])) ++pos_;
      if (pos_ >= s_.size()) syntax_error(line, std::string("unterminated ") + (kind == '{' ? "'{{'" : "'{%'"));
      const char c = s_[pos_];
      char mod = 0;
      if ((c == '-' || (c == '+' && kind == '%')) && s_.compare(pos_ + 1, 2, std::string{close, '}'}) == 0) mod = c;
      if (depth == 0 && (mod || s_.compare(pos_, 2, std::string{close, '}'}) == 0)) {
        pos_ += mod ? 3 : 2;
        out_.push_back(Token{kind == '{' ? Token::Kind::kVarEnd : Token::Kind::kBlockEnd, "", 0, 0, line_at(pos_)});
        finish_tag(mod, kind == '%');
        return;
      }
      lex_token(line_at(pos_));
      const Token& t = out_.back();
      if (out_.size() > first && t.kind == Token::Kind::kOp) {
        if (t.text == "(" || t.text == "[" || t.text == "{") ++depth;
        else if ((t.text == ")" || t.text == "]" || t.text == "}") && depth > 0) --depth;
      }
    }
  }

  void lex_token(int line) {
    const char c = s_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t e = pos_ + 1;
      while (e < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[e])) || s_[e] == '_')) ++e;
      out_.push_back(Token{Token::Kind::kName, s_.substr(pos_, e - pos_), 0, 0, line});
      pos_ = e;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      lex_number(line);
    } else if (c == '\'' || c == '"') {
      lex_string(line);
    } else {
      static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                         "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"};
      for (const char* op : kOps) {
        if (s_.compare(pos_, std::strlen(op), op) == 0) {
          out_.push_back(Token{Token::Kind::kOp, op, 0, 0, line});
          pos_ += std::strlen(op);
          return;
        }
      }
      syntax_error(line, std::string("unexpected character '") + c + "'");
    }
  }

  void lex_number(int line) {
    size_t e = pos_;
    auto digits = [&] { while (e < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[e])) || s_[e] == '_')) ++e; };
    digits();
    bool is_float = false;
    if (e + 1 < s_.size() && s_[e] == '.' && std::isdigit(static_cast<unsigned char>(s_[e + 1]))) {
      is_float = true;
      ++e;
      digits();
    }
    if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
      size_t k = e + 1;
      if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
      if (k < s_.size() && std::isdigit(static_cast<unsigned char>(s_[k]))) {
        is_float = true;
        e = k;
        digits();
      }
    }
    std::string num;
    for (size_t k = pos_; k < e; ++k)
      if (s_[k] != '_') num.push_back(s_[k]);
    Token t{is_float ? Token::Kind::kFloat : Token::Kind::kInt, num, 0, 0, line};
    try {
      if (is_float) t.f = std::stod(num);
      else t.i = std::stoll(num);
    } catch (const std::exception&) {
      syntax_error(line, "number out of range: " + num);
    }
    out_.push_back(t);
    pos_ = e;
  }

  // Python's unicode-escape decoding of the literal's body.
  void lex_string(int line) {
    const char q = s_[pos_++];
    std::string v;
    for (;;) {
      if (pos_ >= s_.size()) syntax_error(line, "unterminated string literal");
      const char c = s_[pos_++];
      if (c == q) break;
      if (c != '\\') {
        v.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) syntax_error(line, "unterminated string literal");
      const char e = s_[pos_++];
      switch (e) {
        case 'n': v.push_back('\n'); break;
        case 't': v.push_back('\t'); break;
        case 'r': v.push_back('\r'); break;
        case 'b': v.push_back('\b'); break;
        case 'f': v.push_back('\f'); break;
        case 'v': v.push_back('\v'); break;
        case 'a': v.push_back('\a'); break;
        case '0': v.push_back('\0'); break;
        case '\\': case '\'': case '"': v.push_back(e); break;
        case '\n': break;
        case 'x': case 'u': case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            const int h = pos_ < s_.size() ? hex_value(s_[pos_]) : -1;
            if (h < 0) syntax_error(line, std::string("bad \\") + e + " escape in a string literal");
            cp = cp * 16 + static_cast<char32_t>(h);
            ++pos_;
          }
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) syntax_error(line, "bad code point escape");
          append_utf8(v, cp);
          break;
        }
        default:
          v.push_back('\\');
          v.push_back(e);
      }
    }
    out_.push_back(Token{Token::Kind::kString, std::move(v), 0, 0, line});
  }

  std::string s_;
  size_t pos_ = 0;
  size_t line_pos_ = 0;
  int line_ = 1;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> lex(std::string_view source) { return Lexer(normalize_newlines(source)).run(); }

}  // namespace kvs::tok::jinja
