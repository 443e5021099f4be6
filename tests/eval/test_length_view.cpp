// LengthView: buckets and per-bucket figures computed by hand on a synthetic run.
#include "eval/length_view.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kvs::eval {
namespace {

RequestOutcome row(double ttft, int64_t cached, double rouge, bool first, double logprob, int n_tokens) {
  RequestOutcome o;
  o.ttft_ms = ttft;
  o.usage.cached_tokens = cached;
  o.rouge_vs_full = rouge;
  o.first_token_agrees = first;
  o.answer_logprob = logprob;
  o.token_logprobs.assign(n_tokens, 0.0);
  return o;
}

TEST(LengthView, BucketEdgesAreGeometricMeans) {
  EXPECT_EQ(length_bucket_index(1), 0);
  EXPECT_EQ(length_bucket_index(565), 0);
  EXPECT_EQ(length_bucket_index(566), 1);
  EXPECT_EQ(length_bucket_index(1131), 1);
  EXPECT_EQ(length_bucket_index(1132), 2);
  EXPECT_EQ(length_bucket_index(2262), 2);
  EXPECT_EQ(length_bucket_index(2263), 3);
  EXPECT_EQ(length_bucket_index(100000), 3);
}

TEST(LengthView, FiguresPerBucketByHand) {
  EvalResult r;
  r.prompt_tokens = {400, 500, 1700, 1500};
  ModeResult full, sem;
  full.spec.name = "full";
  sem.spec.name = "semantic";
  // full: answers of 10 tokens at -0.5 nats/token; semantic: the long ones at -0.6.
  full.rows = {row(100, 0, 1, true, -5, 10), row(120, 0, 1, true, -5, 10), row(400, 0, 1, true, -5, 10),
               row(300, 0, 1, true, -5, 10)};
  sem.rows = {row(50, 300, 0.9, true, -5, 10), row(60, 400, 0.7, false, -5, 10), row(80, 1600, 1, true, -6, 10),
              row(70, 1400, 0.8, true, -6, 10)};
  r.modes = {full, sem};
  const auto v = length_view(r);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].nominal, 400);
  EXPECT_EQ(v[0].min_tokens, 400);
  EXPECT_EQ(v[0].max_tokens, 500);
  EXPECT_EQ(v[1].nominal, 1600);
  const LengthCell& s0 = v[0].cells[1];
  EXPECT_EQ(s0.n, 2);
  EXPECT_DOUBLE_EQ(s0.reuse_rate, 700.0 / 900.0);
  EXPECT_DOUBLE_EQ(s0.ttft_p50, 55.0);
  EXPECT_DOUBLE_EQ(s0.speedup, 110.0 / 55.0);
  EXPECT_DOUBLE_EQ(s0.rouge_vs_full, 0.8);
  EXPECT_DOUBLE_EQ(s0.first_token, 0.5);
  EXPECT_NEAR(s0.ppl_ratio, 1.0, 1e-12);
  const LengthCell& s1 = v[1].cells[1];
  EXPECT_DOUBLE_EQ(s1.speedup, 350.0 / 75.0);
  EXPECT_NEAR(s1.ppl_ratio, std::exp(0.6 - 0.5), 1e-12);
  EXPECT_DOUBLE_EQ(v[1].cells[0].speedup, 1.0);
  EXPECT_NE(length_table(r).find("| ~1600 (1500-1700) | semantic | 2 |"), std::string::npos) << length_table(r);
}

TEST(LengthView, OneBucketGivesNoTable) {
  EvalResult r;
  r.prompt_tokens = {40, 50};
  ModeResult full;
  full.spec.name = "full";
  full.rows = {row(10, 0, 1, true, -1, 2), row(12, 0, 1, true, -1, 2)};
  r.modes = {full};
  EXPECT_EQ(length_view(r).size(), 1u);
  EXPECT_EQ(length_table(r), "");
}

}  // namespace
}  // namespace kvs::eval
