#include "tokenizer/pretokenizer.h"

#include <utf8proc.h>

#include <array>
#include <string>

#include "tokenizer/utf8.h"

namespace kvs::tok {

namespace {

bool is_white_space(char32_t cp) {  // Unicode White_Space property (PropList.txt); stable across versions
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

CharClass classify_slow(char32_t cp) {
  if (is_white_space(cp)) return CharClass::kSpace;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    default:
      return CharClass::kOther;
  }
}

const std::array<CharClass, 128>& ascii_classes() {
  static const std::array<CharClass, 128> table = [] {
    std::array<CharClass, 128> t{};
    for (char32_t c = 0; c < 128; ++c) t[c] = classify_slow(c);
    return t;
  }();
  return table;
}

// Decoded text: code points, their classes and byte offsets (offsets has one extra entry: text.size()).
struct Chars {
  std::vector<char32_t> cp;
  std::vector<CharClass> cls;
  std::vector<uint32_t> off;
};

void decode(std::string_view text, Chars& c) {
  c.cp.reserve(text.size());
  c.off.reserve(text.size() + 1);
  decode_utf8(text, c.cp, c.off);
  c.cls.resize(c.cp.size());
  const auto& ascii = ascii_classes();
  for (size_t i = 0; i < c.cp.size(); ++i) c.cls[i] = c.cp[i] < 128 ? ascii[c.cp[i]] : classify_slow(c.cp[i]);
}

// End (exclusive, in characters) of the GPT-2 pattern's match starting at i, within the chunk [i, e).
size_t gpt2_match(const Chars& c, size_t i, size_t e) {
  const char32_t ch = c.cp[i];
  // 's|'t|'re|'ve|'m|'ll|'d  (case-sensitive)
  if (ch == U'\'' && i + 1 < e) {
    const char32_t c1 = c.cp[i + 1];
    if (c1 == U's' || c1 == U't' || c1 == U'm' || c1 == U'd') return i + 2;
    if (i + 2 < e) {
      const char32_t c2 = c.cp[i + 2];
      if ((c1 == U'r' && c2 == U'e') || (c1 == U'v' && c2 == U'e') || (c1 == U'l' && c2 == U'l')) return i + 3;
    }
  }
  // ' ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+': an optional U+0020, then a run of one class. Without the
  // space the run would have to start at a space, which none of the three classes contains.
  const size_t k = (ch == U' ' && i + 1 < e) ? i + 1 : i;
  const CharClass ck = c.cls[k];
  if (ck != CharClass::kSpace) {
    size_t j = k + 1;
    while (j < e && c.cls[j] == ck) ++j;
    return j;
  }
  // '\s+(?!\S)|\s+'
  size_t j = i + 1;
  while (j < e && c.cls[j] == CharClass::kSpace) ++j;
  if (j == e) return e;         // run reaches the end: all of it
  if (j - i >= 2) return j - 1;  // leave the last whitespace character to the next word
  return i + 1;                  // a single whitespace character before a non-space
}

void gpt2_split(std::string_view text, const Chars& c, size_t b, size_t e, std::vector<std::string_view>& out) {
  size_t i = b;
  while (i < e) {
    const size_t j = gpt2_match(c, i, e);
    out.push_back(text.substr(c.off[i], c.off[j] - c.off[i]));
    i = j;
  }
}

bool is_newline(char32_t c) { return c == U'\r' || c == U'\n'; }

bool ascii_ieq(char32_t c, char lower) { return c == char32_t(lower) || c == char32_t(lower - 'a' + 'A'); }

// End of the Llama 3 / Qwen2 pattern's match starting at i (max_digits 3 or 1):
//   (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}|
//   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t llama3_match(const Chars& c, size_t i, size_t n, size_t max_digits) {
  const char32_t ch = c.cp[i];
  if (ch == U'\'' && i + 1 < n) {
    const char32_t c1 = c.cp[i + 1];
    if (ascii_ieq(c1, 's') || ascii_ieq(c1, 't') || ascii_ieq(c1, 'm') || ascii_ieq(c1, 'd')) return i + 2;
    if (i + 2 < n) {
      const char32_t c2 = c.cp[i + 2];
      if ((ascii_ieq(c1, 'r') && ascii_ieq(c2, 'e')) || (ascii_ieq(c1, 'v') && ascii_ieq(c2, 'e')) ||
          (ascii_ieq(c1, 'l') && ascii_ieq(c2, 'l')))
        return i + 3;
    }
  }
  auto letters_from = [&](size_t k) {
    while (k < n && c.cls[k] == CharClass::kLetter) ++k;
    return k;
  };
  const CharClass cls = c.cls[i];
  if (cls == CharClass::kLetter) return letters_from(i);
  if (cls != CharClass::kNumber && !is_newline(ch) && i + 1 < n && c.cls[i + 1] == CharClass::kLetter)
    return letters_from(i + 1);
  if (cls == CharClass::kNumber) {
    size_t j = i;
    while (j < n && j - i < max_digits && c.cls[j] == CharClass::kNumber) ++j;
    return j;
  }
  const size_t k = (ch == U' ' && i + 1 < n) ? i + 1 : i;
  if (c.cls[k] == CharClass::kOther) {
    size_t j = k;
    while (j < n && c.cls[j] == CharClass::kOther) ++j;
    while (j < n && is_newline(c.cp[j])) ++j;
    return j;
  }
  // Whitespace from here on (cls is kSpace).
  size_t j = i;
  while (j < n && c.cls[j] == CharClass::kSpace) ++j;
  for (size_t t = j; t > i; --t)
    if (is_newline(c.cp[t - 1])) return t;  // \s*[\r\n]+: through the run's last newline
  if (j == n) return n;
  if (j - i >= 2) return j - 1;
  return i + 1;
}

}  // namespace

CharClass char_class(char32_t cp) { return cp < 128 ? ascii_classes()[cp] : classify_slow(cp); }

Result<PreTokenizerKind> pretokenizer_for(std::string_view pre, PreTokenizerCompat compat) {
  if (pre == "default" || pre == "gpt2" || pre == "gpt-2") return PreTokenizerKind::kGpt2;
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3") return PreTokenizerKind::kLlama3;
  if (pre == "qwen2" || pre == "deepseek-r1-qwen") return PreTokenizerKind::kQwen2;
  // llama.cpp: "\p{N}" then the GPT-2 pattern for these pre-types.
  for (std::string_view name : {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"}) {
    if (pre == name) {
      return compat == PreTokenizerCompat::kLlamaCpp ? PreTokenizerKind::kGpt2SplitDigits : PreTokenizerKind::kGpt2;
    }
  }
  return unsupported("pre-tokenizer '" + std::string(pre) +
                     "' (tokenizer.ggml.pre) is not implemented; supported: default, gpt2, gpt-2, smollm, starcoder, "
                     "refact, command-r, codeshell, exaone, minerva, llama3, llama-v3, llama-bpe, falcon3, qwen2, "
                     "deepseek-r1-qwen");
}

void pretokenize(PreTokenizerKind kind, std::string_view text, std::vector<std::string_view>& out) {
  if (text.empty()) return;
  Chars c;
  decode(text, c);
  const size_t n = c.cp.size();
  if (kind == PreTokenizerKind::kGpt2) {
    gpt2_split(text, c, 0, n, out);
    return;
  }
  if (kind == PreTokenizerKind::kLlama3 || kind == PreTokenizerKind::kQwen2) {
    const size_t max_digits = kind == PreTokenizerKind::kLlama3 ? 3 : 1;
    for (size_t i = 0; i < n;) {
      const size_t j = llama3_match(c, i, n, max_digits);
      out.push_back(text.substr(c.off[i], c.off[j] - c.off[i]));
      i = j;
    }
    return;
  }
  size_t i = 0;
  while (i < n) {
    if (c.cls[i] == CharClass::kNumber) {
      out.push_back(text.substr(c.off[i], c.off[i + 1] - c.off[i]));
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < n && c.cls[j] != CharClass::kNumber) ++j;
    gpt2_split(text, c, i, j, out);
    i = j;
  }
}

}  // namespace kvs::tok
