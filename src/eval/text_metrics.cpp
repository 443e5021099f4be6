#include "eval/text_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "base/status.h"

namespace kvs::eval {

namespace {

// Decodes one UTF-8 code point at s[i]; returns its length (1 for an invalid byte, reported as cp = 0xFFFD).
size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len = 0;
  uint32_t v = 0;
  if ((b0 & 0xE0) == 0xC0) len = 2, v = b0 & 0x1F;
  else if ((b0 & 0xF0) == 0xE0) len = 3, v = b0 & 0x0F;
  else if ((b0 & 0xF8) == 0xF0) len = 4, v = b0 & 0x07;
  if (len == 0 || i + len > s.size()) {
    *cp = 0xFFFD;
    return 1;
  }
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    v = (v << 6) | (b & 0x3F);
  }
  *cp = v;
  return len;
}

// Python's str.isspace() (what str.split() and str.rstrip() use).
bool py_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// str.split(): maximal runs of non-space code points.
std::vector<std::string> py_split(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const size_t n = decode_utf8(s, i, &cp);
    if (py_space(cp)) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.append(s.substr(i, n));
    }
    i += n;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string_view py_rstrip(std::string_view s) {
  size_t end = 0;  // one past the last non-space code point
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const size_t n = decode_utf8(s, i, &cp);
    i += n;
    if (!py_space(cp)) end = i;
  }
  return s.substr(0, end);
}

// str.replace(from, to): left to right, non-overlapping.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  size_t i = 0;
  for (;;) {
    const size_t j = s.find(from, i);
    if (j == std::string_view::npos) break;
    out.append(s.substr(i, j - i));
    out.append(to);
    i = j + from.size();
  }
  out.append(s.substr(i));
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_period_comma(char c) { return c == '.' || c == ','; }

// [\{-\~\[-\` -\&\(-\+\:-\@\/]
bool is_13a_symbol(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 0x7B && u <= 0x7E) || (u >= 0x5B && u <= 0x60) || (u >= 0x20 && u <= 0x26) ||
         (u >= 0x28 && u <= 0x2B) || (u >= 0x3A && u <= 0x40) || u == 0x2F;
}

// The regex passes run on bytes: every pattern's ASCII side decides the match, and a multi-byte character can
// only be matched whole by [^0-9] (its lead byte) with its continuation bytes copied unchanged after it, which
// gives the same output as matching code points (no pattern can start on a continuation byte).
std::string regexp_13a(const std::string& line) {
  std::string a;
  a.reserve(line.size() * 2);
  for (char c : line) {
    if (is_13a_symbol(c)) {
      a += ' ';
      a += c;
      a += ' ';
    } else {
      a += c;
    }
  }
  std::string b;  // ([^0-9])([\.,]) -> "\1 \2 "
  b.reserve(a.size() * 2);
  for (size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && !is_digit(a[i]) && is_period_comma(a[i + 1])) {
      b += a[i];
      b += ' ';
      b += a[i + 1];
      b += ' ';
      i += 2;
    } else {
      b += a[i++];
    }
  }
  std::string c;  // ([\.,])([^0-9]) -> " \1 \2"
  c.reserve(b.size() * 2);
  for (size_t i = 0; i < b.size();) {
    if (i + 1 < b.size() && is_period_comma(b[i]) && !is_digit(b[i + 1])) {
      c += ' ';
      c += b[i];
      c += ' ';
      c += b[i + 1];
      i += 2;
    } else {
      c += b[i++];
    }
  }
  std::string d;  // ([0-9])(-) -> "\1 \2 "
  d.reserve(c.size() * 2);
  for (size_t i = 0; i < c.size();) {
    if (i + 1 < c.size() && is_digit(c[i]) && c[i + 1] == '-') {
      d += c[i];
      d += ' ';
      d += '-';
      d += ' ';
      i += 2;
    } else {
      d += c[i++];
    }
  }
  return d;
}

std::vector<std::string> tokens_13a(std::string_view text) {
  std::string line(py_rstrip(text));
  line = replace_all(line, "<skipped>", "");
  line = replace_all(line, "-\n", "");
  line = replace_all(line, "\n", " ");
  if (line.find('&') != std::string::npos) {
    line = replace_all(line, "&quot;", "\"");
    line = replace_all(line, "&amp;", "&");
    line = replace_all(line, "&lt;", "<");
    line = replace_all(line, "&gt;", ">");
  }
  return py_split(regexp_13a(" " + line + " "));
}

// n-gram (tokens joined by ' ', which no token contains) -> count, for n = 1..kBleuOrder.
using NgramCounts = std::map<std::string, int64_t>;

NgramCounts count_ngrams(const std::vector<std::string>& toks) {
  NgramCounts out;
  for (int n = 1; n <= kBleuOrder; ++n) {
    for (size_t i = 0; i + n <= toks.size(); ++i) {
      std::string key = toks[i];
      for (int k = 1; k < n; ++k) {
        key += ' ';
        key += toks[i + k];
      }
      ++out[key];
    }
  }
  return out;
}

int ngram_order(const std::string& key) { return static_cast<int>(std::count(key.begin(), key.end(), ' ')) + 1; }

double my_log(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

}  // namespace

// ---- ROUGE-L ------------------------------------------------------------------------------------------------

std::vector<std::string> rouge_tokenize(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  };
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t n = decode_utf8(text, i, &cp);
    i += n;
    if (cp >= 'A' && cp <= 'Z') {
      cur += static_cast<char>(cp - 'A' + 'a');
    } else if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
      cur += static_cast<char>(cp);
    } else if (cp == 0x130) {  // 'İ'.lower() == "i\u0307": an 'i', then a separator
      cur += 'i';
      flush();
    } else if (cp == 0x212A) {  // KELVIN SIGN lowers to ASCII 'k'
      cur += 'k';
    } else {
      flush();
    }
  }
  flush();
  return out;
}

size_t lcs_length(std::span<const std::string> a, std::span<const std::string> b) {
  std::vector<size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

RougeScore rouge_l(std::string_view hypothesis, std::string_view reference) {
  const auto hyp = rouge_tokenize(hypothesis);
  const auto ref = rouge_tokenize(reference);
  RougeScore s;
  if (hyp.empty() || ref.empty()) return s;
  const double lcs = static_cast<double>(lcs_length(ref, hyp));
  s.precision = lcs / static_cast<double>(hyp.size());
  s.recall = lcs / static_cast<double>(ref.size());
  s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

// ---- BLEU ---------------------------------------------------------------------------------------------------

std::string tokenize_13a(std::string_view text) {
  std::string out;
  for (const auto& t : tokens_13a(text)) {
    if (!out.empty()) out += ' ';
    out += t;
  }
  return out;
}

BleuStats& BleuStats::operator+=(const BleuStats& o) {
  hyp_len += o.hyp_len;
  ref_len += o.ref_len;
  for (int n = 0; n < kBleuOrder; ++n) {
    correct[n] += o.correct[n];
    total[n] += o.total[n];
  }
  return *this;
}

BleuStats bleu_stats(std::string_view hypothesis, std::string_view reference) {
  const auto hyp = tokens_13a(hypothesis);
  const auto ref = tokens_13a(reference);
  const NgramCounts h = count_ngrams(hyp), r = count_ngrams(ref);
  BleuStats s;
  s.hyp_len = static_cast<int64_t>(hyp.size());
  s.ref_len = static_cast<int64_t>(ref.size());
  for (const auto& [key, count] : h) {
    const int n = ngram_order(key) - 1;
    s.total[n] += count;
    if (auto it = r.find(key); it != r.end()) s.correct[n] += std::min(count, it->second);
  }
  return s;
}

BleuScore bleu_from_stats(const BleuStats& st, bool effective_order) {
  BleuScore out;
  out.hyp_len = st.hyp_len;
  out.ref_len = st.ref_len;
  if (st.hyp_len < st.ref_len)
    out.bp = st.hyp_len > 0 ? std::exp(1.0 - static_cast<double>(st.ref_len) / static_cast<double>(st.hyp_len)) : 0.0;
  if (std::all_of(st.correct.begin(), st.correct.end(), [](int64_t c) { return c == 0; })) return out;
  double smooth_mteval = 1.0;
  int eff_order = kBleuOrder;
  for (int n = 1; n <= kBleuOrder; ++n) {
    const double total = static_cast<double>(st.total[n - 1]);
    if (st.total[n - 1] == 0) break;
    if (effective_order) eff_order = n;
    if (st.correct[n - 1] == 0) {
      smooth_mteval *= 2;
      out.precisions[n - 1] = 100.0 / (smooth_mteval * total);
    } else {
      out.precisions[n - 1] = 100.0 * static_cast<double>(st.correct[n - 1]) / total;
    }
  }
  double sum = 0.0;
  for (int n = 0; n < eff_order; ++n) sum += my_log(out.precisions[n]);
  out.score = out.bp * std::exp(sum / eff_order);
  return out;
}

BleuScore corpus_bleu(std::span<const std::string> hypotheses, std::span<const std::string> references) {
  KVS_CHECK(hypotheses.size() == references.size());
  BleuStats sum;
  for (size_t i = 0; i < hypotheses.size(); ++i) sum += bleu_stats(hypotheses[i], references[i]);
  return bleu_from_stats(sum, /*effective_order=*/false);
}

BleuScore sentence_bleu(std::string_view hypothesis, std::string_view reference) {
  return bleu_from_stats(bleu_stats(hypothesis, reference), /*effective_order=*/true);
}

}  // namespace kvs::eval
