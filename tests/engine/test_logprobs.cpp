// engine::token_logprob against a direct double-precision log-softmax.
#include "engine/logprobs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace kvs::engine {
namespace {

TEST(Logprobs, MatchesDirectLogSoftmaxAndRanksTheTop) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.0f, 4.0f);
  std::vector<float> logits(1000);
  for (float& l : logits) l = d(rng) + 30.0f;  // offset: the max shift must make it stable
  logits[17] = logits[18] = 80.0f;             // a tie at the top: lower id first
  double z = 0;
  for (float l : logits) z += std::exp(static_cast<double>(l));
  for (int32_t tok : {0, 17, 999}) {
    const TokenLogprob lp = token_logprob(logits, tok, 5);
    EXPECT_NEAR(lp.logprob, logits[tok] - std::log(z), 1e-4) << tok;
    ASSERT_EQ(lp.top.size(), 5u);
    EXPECT_EQ(lp.top[0].first, 17);
    EXPECT_EQ(lp.top[1].first, 18);
    for (size_t i = 0; i < lp.top.size(); ++i) {
      EXPECT_NEAR(lp.top[i].second, logits[lp.top[i].first] - std::log(z), 1e-4);
      if (i > 0) EXPECT_GE(lp.top[i - 1].second, lp.top[i].second);
    }
  }
  // Nothing outside the top 5 beats the 5th.
  const TokenLogprob lp = token_logprob(logits, 3, 5);
  int better = 0;
  for (float l : logits) better += l > logits[lp.top[4].first];
  EXPECT_EQ(better, 4);
  EXPECT_TRUE(token_logprob(logits, 3, 0).top.empty());
}

}  // namespace
}  // namespace kvs::engine
