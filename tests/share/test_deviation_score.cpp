#include "share/deviation_score.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace kvs::share {
namespace {

// Straightforward reference: materialises every softmax row, then sums weight * ||dv|| per candidate.
std::vector<double> reference(const HeadShape& s, const std::vector<float>& k_all, const std::vector<float>& q,
                              const std::vector<int32_t>& q_pos, const std::vector<float>& dv,
                              const std::vector<int32_t>& cand) {
  const int64_t hd = s.head_dim, kvd = s.kv_dim(), qd = s.n_head * hd;
  std::vector<double> out(cand.size(), 0.0);
  for (size_t i = 0; i < q_pos.size(); ++i)
    for (int64_t h = 0; h < s.n_head; ++h) {
      const int64_t g = h * s.n_head_kv / s.n_head;
      std::vector<double> w(q_pos[i] + 1);
      double z = 0;
      for (int32_t j = 0; j <= q_pos[i]; ++j) {
        double d = 0;
        for (int64_t t = 0; t < hd; ++t) d += q[i * qd + h * hd + t] * k_all[j * kvd + g * hd + t];
        z += w[j] = std::exp(d / std::sqrt(static_cast<double>(hd)));
      }
      for (size_t c = 0; c < cand.size(); ++c)
        if (cand[c] <= q_pos[i]) out[c] += w[cand[c]] / z * dv[c * s.n_head_kv + g];
    }
  for (auto& x : out) x /= static_cast<double>(q_pos.size() * s.n_head);
  return out;
}

TEST(DeviationScore, AttentionWeightedVMatchesReference) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  const HeadShape s{6, 2, 8};
  const int64_t n = 40;
  std::vector<float> k_all(n * s.kv_dim());
  for (auto& x : k_all) x = nd(rng);
  const std::vector<int32_t> q_pos = {7, 20, 39};
  std::vector<float> q(q_pos.size() * s.n_head * s.head_dim);
  for (auto& x : q) x = 2 * nd(rng);
  std::vector<int32_t> cand;
  for (int32_t p = 0; p < n; p += 3) cand.push_back(p);
  std::vector<float> dv(cand.size() * s.n_head_kv);
  for (auto& x : dv) x = std::abs(nd(rng));
  const auto got = attention_weighted_v_deviation(s, k_all, n, q, q_pos, dv, cand);
  const auto want = reference(s, k_all, q, q_pos, dv, cand);
  ASSERT_EQ(got.size(), want.size());
  for (size_t c = 0; c < got.size(); ++c) EXPECT_NEAR(got[c], want[c], 1e-6 * (1 + want[c])) << c;
}

TEST(DeviationScore, CausalAndProportionalToVError) {
  const HeadShape s{1, 1, 2};
  // All keys equal: one query at position 3 spreads 1/4 over positions 0..3 and nothing after it.
  std::vector<float> k_all(6 * 2, 1.0f), q = {0.5f, -0.25f};
  const std::vector<int32_t> q_pos = {3}, cand = {1, 3, 5};
  const std::vector<float> dv = {2.0f, 4.0f, 100.0f};
  const auto got = attention_weighted_v_deviation(s, k_all, 6, q, q_pos, dv, cand);
  EXPECT_NEAR(got[0], 0.5f, 1e-6);  // 1/4 * 2
  EXPECT_NEAR(got[1], 1.0f, 1e-6);  // 1/4 * 4
  EXPECT_EQ(got[2], 0.0f);          // after the query: never attended
}

TEST(DeviationScore, SlidingWindowWeighsOnlyKeysInsideIt) {
  // All keys equal, window 2: the query at 3 spreads 1/2 over positions 2..3; position 1 is outside the window.
  HeadShape s{1, 1, 2};
  s.window = 2;
  std::vector<float> k_all(6 * 2, 1.0f), q = {0.5f, -0.25f};
  const std::vector<int32_t> q_pos = {3}, cand = {1, 2, 3};
  const std::vector<float> dv = {100.0f, 2.0f, 4.0f};
  const auto got = attention_weighted_v_deviation(s, k_all, 6, q, q_pos, dv, cand);
  EXPECT_EQ(got[0], 0.0f);          // outside the layer's window: never attended there
  EXPECT_NEAR(got[1], 1.0f, 1e-6);  // 1/2 * 2
  EXPECT_NEAR(got[2], 2.0f, 1e-6);  // 1/2 * 4
}

TEST(DeviationScore, ScaleOverridesOneOverSqrtHeadDim) {
  // Two keys, q.k = 0 and 2: weights softmax(0, 2 * scale); with scale 0.5: e^0 / (e^0 + e^1) on position 0.
  HeadShape s{1, 1, 2};
  s.scale = 0.5;
  const std::vector<float> k_all = {0, 0, 2, 0}, q = {1, 0};
  const std::vector<int32_t> q_pos = {1}, cand = {0};
  const std::vector<float> dv = {1.0f};
  const auto got = attention_weighted_v_deviation(s, k_all, 2, q, q_pos, dv, cand);
  EXPECT_NEAR(got[0], 1.0 / (1.0 + std::exp(1.0)), 1e-6);
}

TEST(DeviationScore, RelativeKvDeviation) {
  const HeadShape s{2, 2, 2};
  const float k_new[] = {3, 4, 0, 0}, v_new[] = {1, 0, 0, 0};
  // Old values laid out with a stride of 4 floats between KV heads (as in a block of 2 slots).
  const float k_old[] = {3, 4, 9, 9, 0, 0, 9, 9}, v_old[] = {0, 0, 9, 9, 0, 0, 9, 9};
  EXPECT_NEAR(relative_kv_deviation(s, k_new, v_new, k_old, v_old, 4), 0.0f + 1.0f, 1e-6);
  EXPECT_NEAR(relative_kv_deviation(s, k_new, v_new, k_new, v_new, 2), 0.0f, 1e-7);
}

}  // namespace
}  // namespace kvs::share
