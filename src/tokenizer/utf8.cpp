#include "tokenizer/utf8.h"

namespace kvs::tok {

namespace {

// Why the sequence at text[0] is not valid UTF-8, or nullptr when it is. `len` gets its length.
const char* check_sequence(const unsigned char* p, size_t avail, int* len) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) { *len = 1; return nullptr; }
  if (b0 < 0xC0) return "unexpected continuation byte";
  if (b0 < 0xC2) return "overlong encoding";
  if (b0 > 0xF4) return "byte never valid in UTF-8";
  const int n = b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
  // Second byte range depends on the lead byte (excludes overlongs, surrogates and > U+10FFFF).
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 == 0xE0) lo = 0xA0;
  else if (b0 == 0xED) hi = 0x9F;
  else if (b0 == 0xF0) lo = 0x90;
  else if (b0 == 0xF4) hi = 0x8F;
  for (int k = 1; k < n; ++k) {
    if (static_cast<size_t>(k) >= avail) return "truncated sequence";
    const unsigned char b = p[k];
    if (b < 0x80 || b > 0xBF) return "truncated sequence";
    if (k == 1 && (b < lo || b > hi)) {
      if (b0 == 0xE0 || b0 == 0xF0) return "overlong encoding";
      if (b0 == 0xED) return "surrogate code point";
      return "code point above U+10FFFF";
    }
  }
  *len = n;
  return nullptr;
}

}  // namespace

Status validate_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) { ++i; continue; }  // ASCII fast path
    int len = 0;
    if (const char* why = check_sequence(p + i, n - i, &len)) {
      return invalid_argument("invalid UTF-8 at byte offset " + std::to_string(i) + ": " + why);
    }
    i += static_cast<size_t>(len);
  }
  return Status::ok();
}

int utf8_sequence_length(std::string_view text) {
  if (text.empty()) return 0;
  int len = 0;
  return check_sequence(reinterpret_cast<const unsigned char*>(text.data()), text.size(), &len) ? 0 : len;
}

void decode_utf8(std::string_view text, std::vector<char32_t>& cps, std::vector<uint32_t>& offsets) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char b0 = p[i];
    offsets.push_back(static_cast<uint32_t>(i));
    if (b0 < 0x80) {
      cps.push_back(b0);
      i += 1;
    } else if (b0 < 0xE0) {
      cps.push_back((char32_t(b0 & 0x1F) << 6) | (p[i + 1] & 0x3F));
      i += 2;
    } else if (b0 < 0xF0) {
      cps.push_back((char32_t(b0 & 0x0F) << 12) | (char32_t(p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F));
      i += 3;
    } else {
      cps.push_back((char32_t(b0 & 0x07) << 18) | (char32_t(p[i + 1] & 0x3F) << 12) |
                    (char32_t(p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F));
      i += 4;
    }
  }
  offsets.push_back(static_cast<uint32_t>(n));
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace kvs::tok
