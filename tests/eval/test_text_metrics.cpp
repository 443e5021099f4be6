// Hand-checked cases for ROUGE-L and BLEU (src/eval/text_metrics.h). The cross-check against rouge-score and
// sacrebleu on 200+ pairs is tests/python/test_text_metrics.py.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/text_metrics.h"

namespace kvs::eval {
namespace {

using Toks = std::vector<std::string>;

TEST(RougeTokenize, LowercasesAndSplitsOnNonAlphanumerics) {
  EXPECT_EQ(rouge_tokenize("Hello, World! 42-x"), (Toks{"hello", "world", "42", "x"}));
  EXPECT_EQ(rouge_tokenize("  "), Toks{});
  EXPECT_EQ(rouge_tokenize("café au lait"), (Toks{"caf", "au", "lait"}));        // é separates
  EXPECT_EQ(rouge_tokenize("\xC4\xB0stanbul"), (Toks{"i", "stanbul"}));          // İ -> "i" + U+0307
  EXPECT_EQ(rouge_tokenize("\xE2\x84\xAA" "elvin"), (Toks{"kelvin"}));          // KELVIN SIGN -> k
  EXPECT_EQ(rouge_tokenize("a\xFF" "b"), (Toks{"a", "b"}));                       // invalid byte separates
}

TEST(RougeL, HandComputed) {
  // LCS("the cat is on the mat", "the cat sat on the mat") = "the cat on the mat" = 5 of 6 each.
  const auto s = rouge_l("the cat sat on the mat", "the cat is on the mat");
  EXPECT_DOUBLE_EQ(s.precision, 5.0 / 6.0);
  EXPECT_DOUBLE_EQ(s.recall, 5.0 / 6.0);
  EXPECT_DOUBLE_EQ(s.f1, 5.0 / 6.0);
  // hyp 2 tokens, ref 4, LCS 2: P = 1, R = 0.5, F = 2/3.
  const auto t = rouge_l("B a", "a x b y");
  EXPECT_DOUBLE_EQ(t.precision, 0.5);  // LCS("a x b y", "b a") = 1
  EXPECT_DOUBLE_EQ(t.recall, 0.25);
  EXPECT_DOUBLE_EQ(t.f1, 2 * 0.5 * 0.25 / 0.75);
  const auto u = rouge_l("a b", "a x b y");
  EXPECT_DOUBLE_EQ(u.precision, 1.0);
  EXPECT_DOUBLE_EQ(u.recall, 0.5);
  EXPECT_DOUBLE_EQ(u.f1, 2.0 / 3.0);
}

TEST(RougeL, EmptySidesScoreZero) {
  EXPECT_EQ(rouge_l("", "the reference").f1, 0.0);
  EXPECT_EQ(rouge_l("the hypothesis", "").f1, 0.0);
  EXPECT_EQ(rouge_l("!!!", "???").f1, 0.0);
  EXPECT_EQ(rouge_l("no overlap", "at all").f1, 0.0);
  EXPECT_EQ(rouge_l("Same words.", "same WORDS").f1, 1.0);
}

TEST(Tokenize13a, PunctuationNumbersAndEntities) {
  EXPECT_EQ(tokenize_13a("Hello, world."), "Hello , world .");
  EXPECT_EQ(tokenize_13a("Pi is 3.14 and 1,000 people."), "Pi is 3.14 and 1,000 people .");
  EXPECT_EQ(tokenize_13a("a-b 5-3"), "a-b 5 - 3");
  EXPECT_EQ(tokenize_13a("x&amp;y &lt;b&gt; &quot;q&quot;"), "x & y < b > \" q \"");
  EXPECT_EQ(tokenize_13a("it's (really) $5/day!"), "it's ( really ) $ 5 / day !");
  EXPECT_EQ(tokenize_13a("  trailing  \n"), "trailing");
  EXPECT_EQ(tokenize_13a("split-\nword <skipped>done"), "splitword done");
  EXPECT_EQ(tokenize_13a("no\xC2\xA0" "break\xE3\x80\x80" "ideographic"), "no break ideographic");  // Unicode spaces
  EXPECT_EQ(tokenize_13a(""), "");
}

TEST(Bleu, HandComputedSentence) {
  // hyp "the cat sat on the mat" vs ref "the cat is on the mat": 1-grams 5/6, 2-grams 3/5, 3-grams 1/4,
  // 4-grams 0/3 -> smoothed 100 / (2 * 3); BP = 1.
  const double expect = std::exp((std::log(500.0 / 6) + std::log(60.0) + std::log(25.0) + std::log(100.0 / 6)) / 4);
  const auto s = sentence_bleu("the cat sat on the mat", "the cat is on the mat");
  EXPECT_NEAR(s.score, expect, 1e-9);
  const std::vector<std::string> h = {"the cat sat on the mat"}, r = {"the cat is on the mat"};
  EXPECT_NEAR(corpus_bleu(h, r).score, expect, 1e-9);
}

TEST(Bleu, BrevityPenaltyAndEffectiveOrder) {
  // hyp "the cat" vs ref "the cat sat on the mat": 2/2 unigrams, 1/1 bigram, no trigrams.
  // Sentence BLEU (effective order 2): 100 * exp(1 - 6/2). Corpus BLEU (order 4): the empty orders give 0.
  EXPECT_NEAR(sentence_bleu("the cat", "the cat sat on the mat").score, 100 * std::exp(-2.0), 1e-9);
  const std::vector<std::string> h = {"the cat"}, r = {"the cat sat on the mat"};
  EXPECT_EQ(corpus_bleu(h, r).score, 0.0);
}

TEST(Bleu, IdenticalIsHundredAndEmptyIsZero) {
  const std::vector<std::string> h = {"A short answer, with punctuation.", "Another one here"};
  EXPECT_NEAR(corpus_bleu(h, h).score, 100.0, 1e-9);
  const std::vector<std::string> e = {"", ""};
  EXPECT_EQ(corpus_bleu(e, h).score, 0.0);
  EXPECT_EQ(sentence_bleu("", "reference").score, 0.0);
}

TEST(Bleu, CorpusSumsStatisticsBeforeScoring) {
  // Two segments: stats add up, then one score (not the mean of sentence scores).
  BleuStats a = bleu_stats("the cat sat on the mat", "the cat is on the mat");
  const BleuStats b = bleu_stats("a b c d", "a b c d");
  EXPECT_EQ(a.correct[0], 5);
  EXPECT_EQ(a.total[3], 3);
  a += b;
  EXPECT_EQ(a.hyp_len, 10);
  EXPECT_EQ(a.correct[0], 9);
  EXPECT_EQ(a.total[3], 4);
  const std::vector<std::string> h = {"the cat sat on the mat", "a b c d"}, r = {"the cat is on the mat", "a b c d"};
  EXPECT_NEAR(corpus_bleu(h, r).score, bleu_from_stats(a, false).score, 1e-12);
  const double expect = std::exp((std::log(900.0 / 10) + std::log(600.0 / 8) + std::log(300.0 / 6) + std::log(100.0 / 4)) / 4);
  EXPECT_NEAR(bleu_from_stats(a, false).score, expect, 1e-9);
}

}  // namespace
}  // namespace kvs::eval
