#include "share/embedder/wordpiece.h"

#include <utf8proc.h>

#include <algorithm>
#include <climits>
#include <utility>

#include "gguf/gguf_file.h"
#include "tokenizer/utf8.h"

namespace kvs::share {

namespace {

// Rust's char::is_whitespace (Unicode White_Space), which tokenizers uses; \t \n \r included.
bool is_whitespace(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }

// "Other" except \t \n \r: removed by step 1. As tokenizers (the unicode_categories crate's is_other), that is
// Cc Cf Cs Co; unassigned code points (Cn) are kept.
bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
      return true;
    default:
      return false;
  }
}

bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  const auto cat = category(c);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

// Appends the canonical decomposition of c (NFD of one code point).
void append_nfd(char32_t c, std::u32string& out) {
  utf8proc_int32_t buf[8];
  int last_boundclass = 0;
  const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 8,
                                                     UTF8PROC_DECOMPOSE, &last_boundclass);
  if (n <= 0 || n > 8) {  // no canonical decomposition needs more than 4; keep c as it is otherwise
    out.push_back(c);
    return;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out.push_back(static_cast<char32_t>(buf[i]));
}

int combining_class(char32_t c) { return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class; }

// NFD's canonical ordering: within each run of non-starters, a stable sort by combining class.
void canonical_order(std::u32string& s) {
  size_t i = 0;
  while (i < s.size()) {
    if (combining_class(s[i]) == 0) { ++i; continue; }
    size_t j = i;
    while (j < s.size() && combining_class(s[j]) != 0) ++j;
    std::stable_sort(s.begin() + static_cast<std::ptrdiff_t>(i), s.begin() + static_cast<std::ptrdiff_t>(j),
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
}

// Full lower-case mapping: the simple mapping plus SpecialCasing's one unconditional expansion
// (U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + U+0307).
void append_lower(char32_t c, std::u32string& out) {
  if (c == 0x130) {
    out.push_back(U'i');
    out.push_back(0x307);
    return;
  }
  out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

Result<bool> optional_bool(const gguf::GgufFile& f, std::string_view key, bool fallback) {
  if (f.find(key) == nullptr) return fallback;
  return f.get_bool(key);
}

Result<int32_t> token_id(const gguf::GgufFile& f, std::string_view key, bool required) {
  if (f.find(key) == nullptr) {
    if (required) return not_found("missing GGUF key " + std::string(key));
    return int32_t{-1};
  }
  auto v = f.get_int(key);
  if (!v.is_ok()) return v.status();
  if (*v < 0 || *v > INT32_MAX) return corrupt(std::string(key) + " out of range");
  return static_cast<int32_t>(*v);
}

}  // namespace

bool is_cjk_ideograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

Result<WordPiece> WordPiece::create(std::vector<std::string> tokens, WordPieceSpecials specials,
                                    WordPieceOptions options) {
  const auto n = static_cast<int64_t>(tokens.size());
  if (n == 0 || n > INT32_MAX) return invalid_argument("wordpiece: vocabulary size " + std::to_string(n));
  auto valid = [n](int32_t id) { return id >= 0 && id < n; };
  if (!valid(specials.cls) || !valid(specials.sep) || !valid(specials.unk))
    return invalid_argument("wordpiece: [CLS], [SEP] and [UNK] must be valid token ids");
  if ((specials.pad != -1 && !valid(specials.pad)) || (specials.mask != -1 && !valid(specials.mask)))
    return invalid_argument("wordpiece: [PAD]/[MASK] id out of range");
  if (options.max_input_chars_per_word < 1) return invalid_argument("wordpiece: max_input_chars_per_word < 1");
  if (options.continuation_prefix.empty()) return invalid_argument("wordpiece: empty continuation prefix");

  WordPiece wp;
  wp.tokens_ = std::move(tokens);
  wp.specials_ = specials;
  wp.options_ = std::move(options);
  const std::string& prefix = wp.options_.continuation_prefix;
  wp.whole_.reserve(wp.tokens_.size());
  for (int32_t id = 0; id < static_cast<int32_t>(wp.tokens_.size()); ++id) {
    const std::string& t = wp.tokens_[static_cast<size_t>(id)];
    wp.whole_.try_emplace(t, id);  // keeps the lowest id
    if (t.size() > prefix.size() && t.starts_with(prefix)) wp.continuation_.try_emplace(t.substr(prefix.size()), id);
  }
  if (wp.options_.match_special_tokens) {
    for (int32_t id : {specials.pad, specials.unk, specials.cls, specials.sep, specials.mask})
      if (id >= 0 && !wp.token_text(id).empty()) wp.matchable_specials_.push_back(id);
    std::sort(wp.matchable_specials_.begin(), wp.matchable_specials_.end());
    wp.matchable_specials_.erase(std::unique(wp.matchable_specials_.begin(), wp.matchable_specials_.end()),
                                 wp.matchable_specials_.end());
  }
  return wp;
}

Result<WordPiece> WordPiece::from_gguf(const gguf::GgufFile& f) {
  auto model = f.get_string("tokenizer.ggml.model");
  if (!model.is_ok()) return model.status();
  if (*model != "wordpiece")
    return unsupported("tokenizer.ggml.model is '" + *model + "', expected 'wordpiece' (scripts/convert_embedder.py)");
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (!tokens.is_ok()) return tokens.status();

  WordPieceSpecials sp;
  const std::pair<std::string_view, int32_t*> ids[] = {
      {"tokenizer.ggml.bos_token_id", &sp.cls},         {"tokenizer.ggml.seperator_token_id", &sp.sep},
      {"tokenizer.ggml.unknown_token_id", &sp.unk},     {"tokenizer.ggml.padding_token_id", &sp.pad},
      {"tokenizer.ggml.mask_token_id", &sp.mask}};
  for (size_t i = 0; i < std::size(ids); ++i) {
    auto id = token_id(f, ids[i].first, /*required=*/i < 3);
    if (!id.is_ok()) return id.status();
    *ids[i].second = *id;
  }

  WordPieceOptions opt;
  const std::pair<std::string_view, bool*> flags[] = {
      {"tokenizer.wordpiece.do_lower_case", &opt.do_lower_case},
      {"tokenizer.wordpiece.strip_accents", &opt.strip_accents},
      {"tokenizer.wordpiece.tokenize_chinese_chars", &opt.tokenize_chinese_chars}};
  for (const auto& [key, dst] : flags) {
    auto v = optional_bool(f, key, true);
    if (!v.is_ok()) return v.status();
    *dst = *v;
  }
  if (f.find("tokenizer.wordpiece.max_input_chars_per_word") != nullptr) {
    auto v = f.get_int("tokenizer.wordpiece.max_input_chars_per_word");
    if (!v.is_ok()) return v.status();
    if (*v < 1 || *v > 1'000'000) return corrupt("tokenizer.wordpiece.max_input_chars_per_word out of range");
    opt.max_input_chars_per_word = static_cast<int32_t>(*v);
  }
  if (f.find("tokenizer.wordpiece.continuation_prefix") != nullptr) {
    auto v = f.get_string("tokenizer.wordpiece.continuation_prefix");
    if (!v.is_ok()) return v.status();
    opt.continuation_prefix = *v;
  }
  auto wp = create(std::move(tokens).value(), sp, std::move(opt));
  if (!wp.is_ok()) return corrupt(wp.status().message());
  return wp;
}

int32_t WordPiece::find(std::string_view text) const {
  auto it = whole_.find(text);
  return it == whole_.end() ? -1 : it->second;
}

void WordPiece::split_words_into(std::u32string_view segment, std::vector<std::u32string>& words) const {
  // Steps 1-2: clean, pad CJK ideographs.
  std::u32string a;  // (chars) the segment after the current step
  a.reserve(segment.size());
  for (char32_t c : segment) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      a.push_back(U' ');
    } else if (options_.tokenize_chinese_chars && is_cjk_ideograph(c)) {
      a.push_back(U' ');
      a.push_back(c);
      a.push_back(U' ');
    } else {
      a.push_back(c);
    }
  }
  // Step 3: NFD, drop Mn.
  if (options_.strip_accents) {
    std::u32string d;  // (chars) decomposed
    d.reserve(a.size());
    for (char32_t c : a) append_nfd(c, d);
    canonical_order(d);
    a.clear();
    for (char32_t c : d)
      if (category(c) != UTF8PROC_CATEGORY_MN) a.push_back(c);
  }
  // Step 4: lower case.
  if (options_.do_lower_case) {
    std::u32string l;  // (chars) lower-cased
    l.reserve(a.size());
    for (char32_t c : a) append_lower(c, l);
    a.swap(l);
  }
  // Step 5: whitespace and punctuation.
  std::u32string cur;  // (chars) the word being collected
  for (char32_t c : a) {
    if (is_whitespace(c) || is_punctuation(c)) {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
      if (!is_whitespace(c)) words.emplace_back(1, c);
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
}

void WordPiece::append_pieces(std::u32string_view word, std::vector<int32_t>& out, std::string& utf8) const {
  if (word.size() > static_cast<size_t>(options_.max_input_chars_per_word)) {
    out.push_back(specials_.unk);
    return;
  }
  // utf8: the word; offs[i]: byte offset of character i, offs[n] = utf8.size().
  utf8.clear();
  std::vector<uint32_t> offs;  // (chars + 1) byte offsets into utf8
  offs.reserve(word.size() + 1);
  for (char32_t c : word) {
    offs.push_back(static_cast<uint32_t>(utf8.size()));
    tok::append_utf8(utf8, c);
  }
  offs.push_back(static_cast<uint32_t>(utf8.size()));

  const size_t first = out.size();
  const size_t n = word.size();
  size_t start = 0;
  while (start < n) {
    int32_t id = -1;
    size_t end = n;
    for (; end > start; --end) {
      const std::string_view piece(utf8.data() + offs[start], offs[end] - offs[start]);
      const Index& index = start == 0 ? whole_ : continuation_;
      if (auto it = index.find(piece); it != index.end()) {
        id = it->second;
        break;
      }
    }
    if (id < 0) {  // an unmatchable rest: the whole word is [UNK]
      out.resize(first);
      out.push_back(specials_.unk);
      return;
    }
    out.push_back(id);
    start = end;
  }
}

void WordPiece::tokenize_segment(std::string_view segment, std::vector<int32_t>& out) const {
  if (segment.empty()) return;
  std::vector<char32_t> cps;      // (chars)
  std::vector<uint32_t> offsets;  // (chars + 1) byte offsets (unused)
  tok::decode_utf8(segment, cps, offsets);
  std::vector<std::u32string> words;  // (words)
  split_words_into(std::u32string_view(cps.data(), cps.size()), words);
  std::string scratch;
  for (const auto& w : words) append_pieces(w, out, scratch);
}

Result<std::vector<int32_t>> WordPiece::tokenize(std::string_view text) const {
  KVS_RETURN_IF_ERROR(tok::validate_utf8(text));
  std::vector<int32_t> out;  // (pieces)
  // Step 0: literal special tokens, leftmost first (the longest when several start at the same byte).
  size_t seg_begin = 0;
  for (size_t pos = 0; pos < text.size();) {
    int32_t hit = -1;
    size_t hit_len = 0;
    for (int32_t id : matchable_specials_) {
      const std::string& s = tokens_[static_cast<size_t>(id)];
      if (s.size() > hit_len && text.substr(pos).starts_with(s)) {
        hit = id;
        hit_len = s.size();
      }
    }
    if (hit < 0) {
      ++pos;
      continue;
    }
    tokenize_segment(text.substr(seg_begin, pos - seg_begin), out);
    out.push_back(hit);
    pos += hit_len;
    seg_begin = pos;
  }
  tokenize_segment(text.substr(seg_begin), out);
  return out;
}

Result<std::vector<int32_t>> WordPiece::encode(std::string_view text, int max_tokens) const {
  KVS_CHECK(max_tokens >= 2);
  auto pieces = tokenize(text);
  if (!pieces.is_ok()) return pieces.status();
  std::vector<int32_t>& p = pieces.value();
  if (p.size() > static_cast<size_t>(max_tokens - 2)) p.resize(static_cast<size_t>(max_tokens - 2));
  std::vector<int32_t> ids;  // (pieces + 2)
  ids.reserve(p.size() + 2);
  ids.push_back(specials_.cls);
  ids.insert(ids.end(), p.begin(), p.end());
  ids.push_back(specials_.sep);
  return ids;
}

Result<std::vector<std::string>> WordPiece::split_words(std::string_view text) const {
  KVS_RETURN_IF_ERROR(tok::validate_utf8(text));
  std::vector<char32_t> cps;      // (chars)
  std::vector<uint32_t> offsets;  // (chars + 1) byte offsets (unused)
  tok::decode_utf8(text, cps, offsets);
  std::vector<std::u32string> words;  // (words)
  split_words_into(std::u32string_view(cps.data(), cps.size()), words);
  std::vector<std::string> out;
  out.reserve(words.size());
  for (const auto& w : words) {
    std::string s;
    for (char32_t c : w) tok::append_utf8(s, c);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace kvs::share
