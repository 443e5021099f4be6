#include "share/sensitive_screen.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace kvs::share {

const char* sensitive_kind_name(SensitiveKind k) {
  switch (k) {
    case SensitiveKind::kEmail: return "email";
    case SensitiveKind::kNumber: return "number";
    case SensitiveKind::kIdCode: return "id-code";
    case SensitiveKind::kDate: return "date";
    case SensitiveKind::kName: return "name";
  }
  return "?";
}

namespace {

using Spans = std::vector<SensitiveSpan>;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
// A byte of a word: ASCII letters and digits, and every byte of a multi-byte UTF-8 character (letters of other
// scripts; a stray punctuation character of another script only makes a boundary missed, i.e. fewer matches).
bool is_word(char c) { return is_alnum(c) || static_cast<unsigned char>(c) >= 0x80; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// e-mail: local@domain.tld, with a dot in the domain and a top-level label of 2+ letters.
void scan_emails(std::string_view t, Spans& out) {
  auto local = [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; };
  auto dom = [](char c) { return is_alnum(c) || c == '.' || c == '-'; };
  for (size_t at = t.find('@'); at != std::string_view::npos; at = t.find('@', at + 1)) {
    size_t b = at;
    while (b > 0 && local(t[b - 1])) --b;
    size_t e = at + 1;
    while (e < t.size() && dom(t[e])) ++e;
    while (e > at + 1 && (t[e - 1] == '.' || t[e - 1] == '-')) --e;
    const size_t dot = t.substr(0, e).rfind('.');
    if (b == at || dot == std::string_view::npos || dot <= at + 1) continue;
    size_t letters = 0;
    for (size_t i = dot + 1; i < e; ++i) letters += is_alpha(t[i]) ? 1 : 0;
    if (letters >= 2 && letters == e - dot - 1) out.push_back({b, e, SensitiveKind::kEmail});
  }
}

// Digit groups joined by single separators (" -./()" ): phone numbers, ID and account numbers, numeric dates.
// Sensitive when it holds 7+ digits, a run of 6+ digits, or has the shape of a full date (d/m/y, y-m-d).
void scan_numbers(std::string_view t, Spans& out) {
  const auto sep = [](char c) { return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')'; };
  size_t i = 0;
  while (i < t.size()) {
    if (i > 0 && is_alpha(t[i - 1]) && is_alnum(t[i])) {  // inside a word: scan_id_codes' business
      while (i < t.size() && is_alnum(t[i])) ++i;
      continue;
    }
    if (!is_digit(t[i])) { ++i; continue; }
    size_t b = i;
    if (b > 0 && (t[b - 1] == '+' || t[b - 1] == '(')) --b;
    std::array<size_t, 8> groups{};  // digits per group (first 8)
    char date_sep = 0;
    bool date_shape = true;
    size_t n_groups = 0, digits = 0, longest = 0, e = i;
    while (true) {
      size_t g = 0;
      while (e < t.size() && is_digit(t[e])) ++e, ++g;
      if (n_groups < groups.size()) groups[n_groups] = g;
      ++n_groups, digits += g, longest = std::max(longest, g);
      // A separator (or ") (" / ") ") continues the number only when a digit follows it.
      size_t s = e;
      while (s < t.size() && sep(t[s]) && s - e < 2) ++s;
      if (s == e || s >= t.size() || !is_digit(t[s])) break;
      const char c = t[e];
      if (s - e != 1 || (c != '/' && c != '-' && c != '.') || (date_sep && c != date_sep)) date_shape = false;
      date_sep = c;
      e = s;
    }
    const bool ymd = groups[0] == 4 && groups[1] <= 2 && groups[2] <= 2;
    const bool dmy = groups[0] <= 2 && groups[1] <= 2 && groups[2] >= 2 && groups[2] <= 4;
    const bool date = date_shape && n_groups == 3 && (ymd || dmy);
    if (digits >= 7 || longest >= 6) out.push_back({b, e, SensitiveKind::kNumber});
    else if (date) out.push_back({b, e, SensitiveKind::kDate});
    i = e;
  }
}

// Codes that mix letters and digits with 5+ digits (passport, medical record, insurance numbers): "A1234567".
void scan_id_codes(std::string_view t, Spans& out) {
  size_t i = 0;
  while (i < t.size()) {
    if (!is_alnum(t[i])) { ++i; continue; }
    size_t e = i, digits = 0, letters = 0;
    while (e < t.size() && is_alnum(t[e])) digits += is_digit(t[e]) ? 1 : 0, letters += is_alpha(t[e]) ? 1 : 0, ++e;
    if (digits >= 5 && letters > 0) out.push_back({i, e, SensitiveKind::kIdCode});
    i = e;
  }
}

// Case-insensitive (ASCII) match of `w` at t[i], ending at a word boundary.
bool word_at(std::string_view t, size_t i, std::string_view w) {
  if (i + w.size() > t.size()) return false;
  for (size_t k = 0; k < w.size(); ++k)
    if (lower(t[i + k]) != w[k]) return false;
  return i + w.size() == t.size() || !is_word(t[i + w.size()]);
}

size_t skip_spaces(std::string_view t, size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\t')) ++i;
  return i;
}

constexpr std::array<std::string_view, 23> kMonths = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov"};  // "dec" below

// Digits at t[i] of length in [lo, hi], then an optional "st|nd|rd|th" and ","; returns the end or npos.
size_t number_at(std::string_view t, size_t i, size_t lo, size_t hi, bool ordinal) {
  size_t e = i;
  while (e < t.size() && is_digit(t[e])) ++e;
  if (e - i < lo || e - i > hi || (e < t.size() && is_alpha(t[e]) && !ordinal)) return std::string_view::npos;
  if (ordinal)
    for (std::string_view o : {"st", "nd", "rd", "th"})
      if (word_at(t, e, o)) e += 2;
  if (e < t.size() && is_alpha(t[e])) return std::string_view::npos;
  if (e < t.size() && t[e] == ',') ++e;
  return e;
}

// Month-name dates with a year: "March 3, 1985", "3 March 1985", "3rd of March 1985".
void scan_month_dates(std::string_view t, Spans& out) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (!is_alpha(t[i]) || (i > 0 && is_word(t[i - 1]))) continue;
    size_t mlen = 0;
    for (std::string_view m : kMonths)
      if (word_at(t, i, m)) mlen = std::max(mlen, m.size());
    if (word_at(t, i, "dec")) mlen = std::max<size_t>(mlen, 3);
    if (mlen == 0) continue;
    size_t me = i + mlen;
    if (me < t.size() && t[me] == '.') ++me;
    // month day, year
    size_t d = number_at(t, skip_spaces(t, me), 1, 2, true);
    if (d != std::string_view::npos) {
      size_t y = number_at(t, skip_spaces(t, d), 4, 4, false);
      if (y != std::string_view::npos) out.push_back({i, y, SensitiveKind::kDate});
      continue;
    }
    // day [of] month year: look back for the day
    size_t b = i;
    while (b > 0 && (t[b - 1] == ' ')) --b;
    if (b >= 3 && word_at(t, b - 2, "of")) b = b - 2;
    while (b > 0 && (t[b - 1] == ' ')) --b;
    size_t db = b;
    while (db > 0 && is_alnum(t[db - 1])) --db;
    if (db == b || !is_digit(t[db])) continue;
    size_t y = number_at(t, skip_spaces(t, me), 4, 4, false);
    if (y != std::string_view::npos && number_at(t, db, 1, 2, true) != std::string_view::npos)
      out.push_back({db, y, SensitiveKind::kDate});
  }
}

struct Intro {
  std::string_view phrase;  // lower-case ASCII (UTF-8 bytes kept as they are)
  bool needs_capital;       // "I am Ana" names, "I am tired" does not
};
constexpr std::array<Intro, 27> kIntros = {{
    {"my name is", false},      {"my name's", false},   {"my name\xE2\x80\x99s", false}, {"call me", true},
    {"i am", true},             {"i'm", true},          {"i\xE2\x80\x99m", true},         {"me llamo", false},
    {"mi nombre es", false},    {"soy", true},          {"je m'appelle", false},
    {"je m\xE2\x80\x99" "appelle", false},              {"mon nom est", false},           {"je suis", true},
    {"ich hei\xC3\x9F" "e", false}, {"ich heisse", false}, {"mein name ist", false},      {"ich bin", true},
    {"mi chiamo", false},       {"il mio nome \xC3\xA8", false}, {"sono", true},          {"meu nome \xC3\xA9", false},
    {"me chamo", false},        {"eu sou", true},       {"mijn naam is", false},          {"ik heet", false},
    {"ik ben", true},
}};
constexpr std::array<std::string_view, 9> kNotNames = {"a", "an", "the", "not", "i", "in", "on", "at", "so"};

bool starts_capital(std::string_view t, size_t i) {
  if (i >= t.size()) return false;
  const auto c = static_cast<unsigned char>(t[i]);
  if (c >= 'A' && c <= 'Z') return true;
  // Latin-1 Supplement capitals (U+00C0..U+00DE except U+00D7), e.g. "Élodie", "Ömer".
  return c == 0xC3 && i + 1 < t.size() && static_cast<unsigned char>(t[i + 1]) >= 0x80 &&
         static_cast<unsigned char>(t[i + 1]) <= 0x9E && static_cast<unsigned char>(t[i + 1]) != 0x97;
}

// A name introduced by "my name is" / "I am" / ... : the following word (and the capitalised words after it).
void scan_names(std::string_view t, Spans& out) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (i > 0 && is_word(t[i - 1])) continue;
    for (const Intro& in : kIntros) {
      if (!word_at(t, i, in.phrase)) continue;
      const size_t w = skip_spaces(t, i + in.phrase.size());
      size_t e = w;
      while (e < t.size() && (is_word(t[e]) || t[e] == '-' || t[e] == '\'')) ++e;
      if (e == w || (in.needs_capital && !starts_capital(t, w))) continue;
      bool stop = false;
      for (std::string_view s : kNotNames) stop = stop || word_at(t, w, s);
      if (stop && in.needs_capital) continue;
      for (size_t n = skip_spaces(t, e); starts_capital(t, n);) {  // "Maria Lopez Garcia"
        e = n;
        while (e < t.size() && (is_word(t[e]) || t[e] == '-')) ++e;
        n = skip_spaces(t, e);
      }
      out.push_back({w, e, SensitiveKind::kName});
      break;
    }
  }
}

// "born 1985", "born on 3/4/85", "date of birth: 12.07.61", "DOB 1985-...": the number right after it (a year or
// a short date the number scanner lets pass). "babies born to mothers over 35" is not a birth date.
void scan_birth_mentions(std::string_view t, Spans& out) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (i > 0 && is_word(t[i - 1])) continue;
    size_t len = 0;
    for (std::string_view k : {"born", "born on", "born in", "date of birth", "dob", "birthday", "birth date",
                               "birthdate"})
      if (word_at(t, i, k)) len = std::max(len, k.size());
    if (len == 0) continue;
    size_t j = i + len;
    if (j < t.size() && t[j] == ':') ++j;
    j = skip_spaces(t, j);
    if (j >= t.size() || !is_digit(t[j])) continue;
    size_t e = j;
    while (e < t.size() && (is_digit(t[e]) || t[e] == '/' || t[e] == '-' || t[e] == '.')) ++e;
    if (e > j && t[e - 1] == '.') --e;
    size_t digits = 0;
    for (size_t k = j; k < e; ++k) digits += is_digit(t[k]) ? 1 : 0;
    const bool year = digits == 4 && e - j == 4, date = digits >= 3 && digits < e - j;
    if ((year || date) && (e >= t.size() || !is_alpha(t[e]))) out.push_back({j, e, SensitiveKind::kDate});
  }
}

}  // namespace

std::vector<SensitiveSpan> find_sensitive_spans(std::string_view text) {
  Spans all;
  scan_emails(text, all);
  scan_numbers(text, all);
  scan_id_codes(text, all);
  scan_month_dates(text, all);
  scan_names(text, all);
  scan_birth_mentions(text, all);
  std::sort(all.begin(), all.end(), [](const SensitiveSpan& a, const SensitiveSpan& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  Spans merged;  // overlapping spans merge (the first one's kind names the union)
  for (const SensitiveSpan& s : all) {
    if (!merged.empty() && s.begin < merged.back().end) merged.back().end = std::max(merged.back().end, s.end);
    else merged.push_back(s);
  }
  return merged;
}

std::optional<SensitiveSpan> first_sensitive_span(std::string_view text) {
  auto spans = find_sensitive_spans(text);
  if (spans.empty()) return std::nullopt;
  return spans.front();
}

}  // namespace kvs::share
