// Adaptive recompute budget (share::adaptive_selection_size and PlannerConfig::adaptive_residual): the selection
// size comes from the deviation profile. The oracle below is written from the header's definition (sort by rank,
// sum what stays reused), independently of the implementation's prefix sums.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <vector>

#include "align/edit_script.h"
#include "share/deviation_select.h"
#include "share/planner.h"
#include "share/recompute_set.h"
#include "share/reuse_plan.h"

namespace kvs::share {
namespace {

// The definition, by brute force: for k = k_min.., recompute the k best by rank (desc, then position asc), the
// mean deviation of the others must be <= target.
std::optional<int64_t> oracle(const std::vector<float>& rank, const std::vector<float>& dev,
                              const std::vector<int32_t>& pos, int64_t k_min, int64_t k_max, double target) {
  const size_t n = rank.size();
  if (n == 0) return 0;
  auto inf_nan = [](float x) { return std::isnan(x) ? std::numeric_limits<float>::infinity() : x; };
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (inf_nan(rank[a]) != inf_nan(rank[b])) return inf_nan(rank[a]) > inf_nan(rank[b]);
    return pos[a] < pos[b];
  });
  for (int64_t k = k_min; k <= k_max; ++k) {
    double left = 0;
    for (size_t i = static_cast<size_t>(k); i < n; ++i) left += inf_nan(dev[order[i]]);
    if (left / static_cast<double>(n) <= target) return k;
  }
  return std::nullopt;
}

TEST(AdaptiveBudget, HandExample) {
  // Mean deviation left: k=0: 1.2/4 = 0.3; k=1: 0.3/4 = 0.075; so a target of 0.1 needs one token.
  const std::vector<float> s = {0.1f, 0.9f, 0.1f, 0.1f};
  const std::vector<int32_t> pos = {10, 11, 12, 13};
  EXPECT_EQ(adaptive_selection_size(s, s, pos, 0, 4, 0.1), std::optional<int64_t>(1));
  EXPECT_EQ(adaptive_selection_size(s, s, pos, 2, 4, 0.1), std::optional<int64_t>(2));  // the floor holds
  EXPECT_EQ(adaptive_selection_size(s, s, pos, 0, 4, 0.3), std::optional<int64_t>(0));
  EXPECT_EQ(adaptive_selection_size(s, s, pos, 0, 0, 0.1), std::nullopt);  // no room to reach it
  EXPECT_EQ(adaptive_selection_size(s, s, pos, 0, 4, 0.0), std::optional<int64_t>(4));
  EXPECT_EQ(adaptive_selection_size({}, {}, {}, 0, 0, 0.1), std::optional<int64_t>(0));
}

TEST(AdaptiveBudget, MatchesTheDefinitionOnRandomProfiles) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 400; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 60);
    std::vector<float> rank(n), dev(n);
    std::vector<int32_t> pos(n);
    std::iota(pos.begin(), pos.end(), 3);
    std::shuffle(pos.begin(), pos.end(), rng);
    std::exponential_distribution<float> e(4.0f);
    for (int64_t i = 0; i < n; ++i) {
      dev[i] = e(rng);
      rank[i] = trial % 2 ? dev[i] : e(rng);  // ranked by the deviation itself, or by another score
      if (rng() % 29 == 0) rank[i] = static_cast<float>(rng() % 3) * 0.25f;  // ties
    }
    const int64_t k_min = static_cast<int64_t>(rng() % (n + 1));
    const int64_t k_max = k_min + static_cast<int64_t>(rng() % (n - k_min + 1));
    const double target = std::uniform_real_distribution<double>(0.0, 0.3)(rng);
    EXPECT_EQ(adaptive_selection_size(rank, dev, pos, k_min, k_max, target), oracle(rank, dev, pos, k_min, k_max, target))
        << "trial " << trial;
  }
}

TEST(AdaptiveBudget, NonFiniteDeviationIsNeverLeftReused) {
  const std::vector<float> dev = {0.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f};
  const std::vector<float> rank = {0.5f, 0.1f, 0.4f};  // the NaN token is ranked last
  const std::vector<int32_t> pos = {0, 1, 2};
  EXPECT_EQ(adaptive_selection_size(rank, dev, pos, 0, 2, 1e6), std::nullopt);
  EXPECT_EQ(adaptive_selection_size(rank, dev, pos, 0, 3, 1e6), std::optional<int64_t>(3));
}

TEST(AdaptiveBudget, SelectTopKAgreesWithSelectByDeviation) {
  std::mt19937 rng(9);
  for (int trial = 0; trial < 100; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 50);
    std::vector<float> s(n);
    std::vector<int32_t> pos(n);
    std::iota(pos.begin(), pos.end(), 0);
    for (auto& x : s) x = static_cast<float>(rng() % 7);
    const double r = static_cast<double>(rng() % 101) / 100.0;
    EXPECT_EQ(select_top_k(s, pos, selection_size(n, r)), select_by_deviation(s, pos, r));
  }
}

// A plan I4 K40(+4): 39 deviation candidates at positions 4..42.
ReusePlan plan_44() {
  std::vector<int32_t> donor(40), target(4);
  std::iota(donor.begin(), donor.end(), 0);
  std::iota(target.begin(), target.end(), 100);
  target.insert(target.end(), donor.begin(), donor.end());
  auto p = semantic_plan(44, 9, align::align(donor, target));
  KVS_CHECK(p.is_ok());
  return p.value();
}

TEST(AdaptiveBudget, RefineRecomputesUntilTheResidualTargetHolds) {
  ReusePlan p = plan_44();
  const auto cand = p.deviation_candidates();
  ASSERT_EQ(cand.size(), 39u);
  // Ten tokens deviate 0.4, the rest 0.01: mean left after k of the ten: ((10 - k) * 0.4 + 29 * 0.01) / 39.
  std::vector<float> scores(cand.size(), 0.01f);
  for (size_t i = 0; i < 10; ++i) scores[3 * i] = 0.4f;
  PlannerConfig cfg;
  cfg.adaptive_residual = 0.02;  // needs (10 - k) * 0.4 <= 0.78 - 0.29 = 0.49: k = 9 (> ceil(0.15 * 39) = 6)
  auto out = refine_with_deviation(p, scores, cfg);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(out.value(), RefineOutcome::kSelected);
  // The initial set (inserted 0..3 and the last, 43) plus 9 of the ten high ones: the lowest 9 positions win ties.
  std::vector<int32_t> want = {0, 1, 2, 3};
  for (int i = 0; i < 9; ++i) want.push_back(cand[3 * i]);
  want.push_back(43);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(p.recompute, RecomputeSet::from_positions(want));
  EXPECT_TRUE(p.check().is_ok());
}

TEST(AdaptiveBudget, RefineFallsBackWhenTheTargetIsOutOfReach) {
  ReusePlan p = plan_44();
  std::vector<float> scores(p.deviation_candidates().size(), 0.3f);  // under the guard (0.5), uniformly bad
  PlannerConfig cfg;
  cfg.adaptive_residual = 0.05;   // leaving <= 6 of 39 at 0.3 needs 33 recomputed
  cfg.adaptive_max_ratio = 0.5;   // at most 20
  auto out = refine_with_deviation(p, scores, cfg);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(out.value(), RefineOutcome::kFellBack);
  EXPECT_TRUE(p.fell_back);
  EXPECT_EQ(p.n_recomputed(), 44);
  ReusePlan q = plan_44();
  cfg.adaptive_max_ratio = 1.0;
  out = refine_with_deviation(q, scores, cfg);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(out.value(), RefineOutcome::kSelected);
  EXPECT_EQ(q.n_recomputed(), 5 + 33);
}

TEST(AdaptiveBudget, ConfigValidation) {
  PlannerConfig cfg;
  EXPECT_TRUE(cfg.validate().is_ok());
  cfg.adaptive_residual = -0.1;
  EXPECT_FALSE(cfg.validate().is_ok());
  cfg.adaptive_residual = std::nan("");
  EXPECT_FALSE(cfg.validate().is_ok());
  cfg.adaptive_residual = 0.1;
  cfg.adaptive_max_ratio = 1.5;
  EXPECT_FALSE(cfg.validate().is_ok());
}

}  // namespace
}  // namespace kvs::share
