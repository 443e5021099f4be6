// Text similarity metrics for the evaluation, bit-compatible with the Python references the field reports:
//
// ROUGE-L (Google's `rouge-score` 0.1.2, RougeScorer(["rougeL"], use_stemmer=False)):
//   tokens = text.lower(), every run of characters outside [a-z0-9] replaced by a space, split, empties dropped.
//     (Python's lower() maps exactly two non-ASCII code points into [a-z0-9]: U+0130 'İ' -> "i" + U+0307 and
//     U+212A KELVIN SIGN -> "k"; every other non-ASCII code point separates tokens. Reproduced here.)
//   lcs = longest common subsequence of the token lists; P = lcs / |hyp|, R = lcs / |ref|,
//   F = 2PR / (P + R) (0 when P + R == 0); all three are 0 when either list is empty.
//
// BLEU (sacrebleu 2.x, BLEU(tokenize="13a"), one reference per hypothesis):
//   13a tokenizer: rstrip (Python whitespace), remove "<skipped>" and "-\n", "\n" -> " ", unescape &quot; &amp;
//   &lt; &gt; (in that order, when the line has '&'), pad with spaces, then four regex passes with Python's
//   re.sub semantics (leftmost, non-overlapping):
//     ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> " \1 "      ([^0-9])([\.,]) -> "\1 \2 "
//     ([\.,])([^0-9]) -> " \1 \2"                   ([0-9])(-) -> "\1 \2 "
//   and split on Python's (Unicode) whitespace. Statistics per segment: hyp_len, ref_len, matched and total
//   n-grams for n = 1..4 (clipped counts). Score from the summed statistics:
//     no match at any order -> 0; p_n = 100 * correct_n / total_n, and with smoothing 'exp' an order with no
//     match gets 100 / (2^k * total_n) for its k-th zero order; a zero total stops the loop (with
//     effective_order the mean then runs over the orders seen); BP = exp(1 - ref_len / hyp_len) when
//     hyp_len < ref_len (0 when hyp_len == 0); BLEU = BP * exp(mean log p_n) (log 0 -> -9999999999).
//   corpus_bleu = sacrebleu.corpus_bleu(hyps, [refs])            (smooth 'exp', effective_order false)
//   sentence_bleu = sacrebleu.sentence_bleu(hyp, [ref])           (smooth 'exp', effective_order true)
// The eval reports corpus BLEU per mode and sentence BLEU per request.
//
// Invariants: pure functions of their UTF-8 inputs (invalid UTF-8 bytes count as non-alphanumeric, non-space
// characters); scores are in [0, 1] for ROUGE and [0, 100] for BLEU. tests/python/test_text_metrics.py checks
// them against the Python packages.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kvs::eval {

// ---- ROUGE-L ------------------------------------------------------------------------------------------------
std::vector<std::string> rouge_tokenize(std::string_view text);

struct RougeScore {
  double precision = 0.0;
  double recall = 0.0;
  double f1 = 0.0;
};

// rouge_scorer.score(target=reference, prediction=hypothesis)["rougeL"].
RougeScore rouge_l(std::string_view hypothesis, std::string_view reference);
size_t lcs_length(std::span<const std::string> a, std::span<const std::string> b);

// ---- BLEU ---------------------------------------------------------------------------------------------------
// The 13a tokenisation of one segment (tokens joined by single spaces, as sacrebleu's tokenizer returns it).
std::string tokenize_13a(std::string_view text);

constexpr int kBleuOrder = 4;

// Sufficient statistics of one segment or of a corpus (sums).
struct BleuStats {
  int64_t hyp_len = 0;
  int64_t ref_len = 0;
  std::array<int64_t, kBleuOrder> correct{};
  std::array<int64_t, kBleuOrder> total{};
  BleuStats& operator+=(const BleuStats& o);
};

struct BleuScore {
  double score = 0.0;                          // [0, 100]
  std::array<double, kBleuOrder> precisions{}; // percent, after smoothing
  double bp = 1.0;
  int64_t hyp_len = 0;
  int64_t ref_len = 0;
};

BleuStats bleu_stats(std::string_view hypothesis, std::string_view reference);
BleuScore bleu_from_stats(const BleuStats& stats, bool effective_order);
// REQUIRES: hypotheses.size() == references.size().
BleuScore corpus_bleu(std::span<const std::string> hypotheses, std::span<const std::string> references);
BleuScore sentence_bleu(std::string_view hypothesis, std::string_view reference);

}  // namespace kvs::eval
