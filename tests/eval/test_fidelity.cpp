// Fidelity metrics (src/eval/fidelity.h) and their aggregation in score_mode (runner.h, "Fidelity"): first-token
// KL and top-1, leading agreement with padding, perplexity ratio (exactly 1 for full), KL over the computed
// requests only for the response cache, agree@k capped by max_tokens.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/fidelity.h"
#include "eval/runner.h"

namespace kvs::eval {
namespace {

TEST(EvalFidelity, FirstTokenKlAgainstClosedForms) {
  const std::vector<float> p = {0.0f, 0.0f}, q = {0.0f, std::log(3.0f)};
  auto same = compare_first_token(p, p);
  ASSERT_TRUE(same.is_ok());
  EXPECT_EQ(same->kl, 0.0);
  EXPECT_TRUE(same->top1_agrees);
  // p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3).
  auto c = compare_first_token(p, q);
  ASSERT_TRUE(c.is_ok());
  EXPECT_NEAR(c->kl, 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0), 1e-7);
  EXPECT_FALSE(c->top1_agrees);  // argmax(p) = 0 (first on a tie), argmax(q) = 1
  // Softmax ignores a constant shift.
  std::vector<float> x(1000), y(1000);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = std::sin(0.37f * static_cast<float>(i)) * 8.0f;
    y[i] = x[i] + 5.0f;
  }
  auto shifted = compare_first_token(x, y);
  ASSERT_TRUE(shifted.is_ok());
  EXPECT_NEAR(shifted->kl, 0.0, 1e-9);
  EXPECT_TRUE(shifted->top1_agrees);
  auto r = compare_first_token(x, x);
  EXPECT_EQ(r->kl, 0.0) << "identical rows: exactly 0";
  EXPECT_FALSE(compare_first_token(p, x).is_ok());
  EXPECT_FALSE(compare_first_token({}, {}).is_ok());
  EXPECT_NEAR(log_sum_exp(std::vector<float>{0.0f, 0.0f}), std::log(2.0), 1e-12);
}

TEST(EvalFidelity, LeadingAgreementPadsEndedAnswers) {
  const std::vector<int32_t> a = {5, 6, 7}, b = {5, 6, 8, 9};
  EXPECT_EQ(leading_agreement(a, a, 16), 16) << "identical (ended) answers agree everywhere";
  EXPECT_EQ(leading_agreement(a, b, 16), 2);
  EXPECT_EQ(leading_agreement(b, std::vector<int32_t>{5, 6, 8}, 16), 3) << "one ended, the other goes on";
  EXPECT_EQ(leading_agreement({}, {}, 4), 4);
  EXPECT_EQ(leading_agreement({}, a, 4), 0);
  EXPECT_EQ(leading_agreement(b, b, 2), 2) << "capped";
}

RequestOutcome row(std::vector<int32_t> tokens, std::vector<double> lps) {
  RequestOutcome r;
  r.tokens = std::move(tokens);
  r.first_token = r.tokens.empty() ? -1 : r.tokens.front();
  r.token_logprobs = std::move(lps);
  for (double x : r.token_logprobs) r.answer_logprob += x;
  r.usage.prompt_tokens = 10;
  r.usage.computed_prompt_tokens = 10;
  return r;
}

TEST(EvalFidelity, ScoreModeAggregates) {
  std::vector<EvalRequest> reqs(3);
  ModeResult full, m, cache;
  full.spec = {"full", ModeKind::kFull, -1};
  m.spec = {"semantic", ModeKind::kSemantic, -1};
  cache.spec = {"response-cache", ModeKind::kResponseCache, -1};
  full.rows = {row({1, 2, 3, 4}, {-0.5, -0.25, -0.125, -0.125}), row({7, 8}, {-1.0, -1.0}), row({}, {})};
  m.rows = {row({1, 2, 9}, {-0.5, -0.25, -2.25}), row({7, 8}, {-1.0, -1.0}), row({}, {})};
  for (size_t i = 0; i < 3; ++i) {
    full.rows[i].first_compared = true;
    full.rows[i].first_top1_agrees = true;
    m.rows[i].first_compared = true;
    m.rows[i].first_kl = 0.1 * static_cast<double>(i);
    m.rows[i].first_top1_agrees = i != 1;
  }
  const ModeResult full_copy = full;
  score_mode(full, full_copy, reqs, 0, /*max_tokens=*/16);
  EXPECT_EQ(full.summary.ppl_ratio, 1.0) << "exactly";
  EXPECT_EQ(full.summary.answer_tokens, 6);
  EXPECT_DOUBLE_EQ(full.summary.mean_logprob, -3.0 / 6.0);
  EXPECT_EQ(full.summary.first_kl, 0.0);
  EXPECT_EQ(full.summary.first_top1, 1.0);
  EXPECT_EQ(full.summary.n_first_dist, 3);
  EXPECT_DOUBLE_EQ(full.summary.lead_mean, 16.0);
  ASSERT_EQ(full.summary.agree_at.size(), 3u) << "k = 1, 4, 16 <= max_tokens";
  for (const auto& [k, v] : full.summary.agree_at) EXPECT_EQ(v, 1.0) << k;

  score_mode(m, full_copy, reqs, 0, 16);
  EXPECT_EQ(m.summary.answer_tokens, 5);
  EXPECT_DOUBLE_EQ(m.summary.mean_logprob, -5.0 / 5.0);
  EXPECT_NEAR(m.summary.ppl_ratio, std::exp(1.0 - 0.5), 1e-12);  // exp(mean_nll - full's mean_nll)
  EXPECT_NEAR(m.summary.first_kl, 0.1, 1e-12);
  EXPECT_NEAR(m.summary.first_top1, 2.0 / 3.0, 1e-12);
  EXPECT_EQ(m.rows[0].lead, 2);
  EXPECT_EQ(m.rows[1].lead, 16);
  EXPECT_DOUBLE_EQ(m.summary.lead_mean, (2.0 + 16 + 16) / 3);
  EXPECT_EQ(m.summary.agree_at[0], (std::pair<int32_t, double>{1, 1.0}));
  EXPECT_DOUBLE_EQ(m.summary.agree_at[1].second, 2.0 / 3.0);

  // Response cache: a hit has no distribution; KL and top-1 are over its computed requests only.
  cache.rows = full_copy.rows;
  cache.rows[1].cache_hit = true;
  cache.rows[1].first_compared = false;
  cache.rows[0].first_kl = 0.3;
  score_mode(cache, full_copy, reqs, 0, 16);
  EXPECT_EQ(cache.summary.n_first_dist, 2);
  EXPECT_NEAR(cache.summary.first_kl, 0.15, 1e-12);

  ModeResult silent = m;  // no answer tokens at all: the ratio is n/a
  for (auto& r : silent.rows) r = row({}, {});
  score_mode(silent, full_copy, reqs, 0, 2);
  EXPECT_TRUE(std::isnan(silent.summary.ppl_ratio));
  EXPECT_EQ(silent.summary.agree_at.size(), 1u) << "max_tokens 2: only k = 1";
}

}  // namespace
}  // namespace kvs::eval
