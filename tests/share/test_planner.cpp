#include "share/planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "align/edit_script.h"
#include "share/deviation_select.h"
#include "share/recompute_set.h"
#include "share/reuse_plan.h"

namespace kvs::share {
namespace {

using Seq = std::vector<int32_t>;

Seq iota_seq(int32_t n, int32_t base) {
  Seq s(n);
  std::iota(s.begin(), s.end(), base);
  return s;
}

SemanticCandidate candidate(const Seq& donor, const Seq& target, double sim, int64_t id = 7) {
  SemanticCandidate c;
  c.donor_id = id;
  c.similarity = sim;
  c.script = align::align(donor, target);
  return c;
}

// Reference selection: full sort by (score desc with NaN = +inf, position asc).
std::vector<int32_t> reference_select(const std::vector<float>& scores, const std::vector<int32_t>& pos, int64_t k) {
  std::vector<size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  auto key = [&](size_t i) { return std::isnan(scores[i]) ? std::numeric_limits<float>::infinity() : scores[i]; };
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    if (key(a) != key(b)) return key(a) > key(b);
    return pos[a] < pos[b];
  });
  std::vector<int32_t> out;
  for (int64_t i = 0; i < k; ++i) out.push_back(pos[idx[i]]);
  std::sort(out.begin(), out.end());
  return out;
}

// ---- selection ----

TEST(PlannerSelect, SizeIsCeilOfRatioTimesN) {
  EXPECT_EQ(selection_size(100, 0.15), 15);  // 0.15 * 100 = 15.000000000000002 in double: not 16
  EXPECT_EQ(selection_size(20, 0.15), 3);    // 3.0000000000000004
  EXPECT_EQ(selection_size(7, 0.15), 2);     // ceil(1.05)
  EXPECT_EQ(selection_size(1, 0.01), 1);     // any r > 0 selects at least one
  EXPECT_EQ(selection_size(3, 1.0 / 3.0), 1);
  EXPECT_EQ(selection_size(10, 0.0), 0);
  EXPECT_EQ(selection_size(10, 1.0), 10);
  EXPECT_EQ(selection_size(0, 0.5), 0);
  EXPECT_EQ(selection_size(100, 0.5, 10), 10);  // budget caps
  EXPECT_EQ(selection_size(100, 0.5, 0), 0);
  EXPECT_EQ(selection_size(100, 0.05, 10), 5);  // budget above k: no effect
  EXPECT_EQ(selection_size(100, 0.5, -1), 50);  // -1: unlimited
}

TEST(PlannerSelect, PicksHighestScoresAgainstReference) {
  std::mt19937 rng(17);
  for (int iter = 0; iter < 2000; ++iter) {
    const int n = static_cast<int>(rng() % 60);
    std::vector<float> scores(n);
    const int levels = 1 + static_cast<int>(rng() % 6);  // few levels: many ties
    for (auto& s : scores) s = static_cast<float>(rng() % levels) * 0.25f;
    if (n > 0 && iter % 5 == 0) scores[rng() % n] = std::numeric_limits<float>::quiet_NaN();
    std::vector<int32_t> pos(n);
    std::iota(pos.begin(), pos.end(), 3);
    std::shuffle(pos.begin(), pos.end(), rng);
    const double r = (rng() % 101) / 100.0;
    const int64_t budget = iter % 4 == 0 ? static_cast<int64_t>(rng() % 10) : -1;
    const int64_t k = selection_size(n, r, budget);
    const std::vector<int32_t> got = select_by_deviation(scores, pos, r, budget);
    ASSERT_EQ(static_cast<int64_t>(got.size()), k);
    ASSERT_TRUE(std::is_sorted(got.begin(), got.end()));
    ASSERT_EQ(got, reference_select(scores, pos, k)) << "iter " << iter;
  }
}

TEST(PlannerSelect, TiesBreakTowardLowerPositionsRegardlessOfInputOrder) {
  const std::vector<float> scores = {1, 1, 1, 1, 1, 1};
  EXPECT_EQ(select_by_deviation(scores, std::vector<int32_t>{50, 10, 40, 20, 30, 60}, 0.5),
            (std::vector<int32_t>{10, 20, 30}));
  // Permuting (score, position) pairs together never changes the answer.
  std::vector<float> s = {0.3f, 0.9f, 0.3f, 0.1f, 0.9f, 0.3f, 0.5f};
  std::vector<int32_t> p = {11, 12, 13, 14, 15, 16, 17};
  const auto want = select_by_deviation(s, p, 0.5);  // k = 4: 12, 15 (0.9), 17 (0.5), 11 (first 0.3)
  EXPECT_EQ(want, (std::vector<int32_t>{11, 12, 15, 17}));
  std::mt19937 rng(3);
  for (int t = 0; t < 20; ++t) {
    std::vector<size_t> perm(s.size());
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<float> s2;
    std::vector<int32_t> p2;
    for (size_t i : perm) s2.push_back(s[i]), p2.push_back(p[i]);
    EXPECT_EQ(select_by_deviation(s2, p2, 0.5), want);
  }
}

TEST(PlannerSelect, RatioZeroAndOne) {
  const std::vector<float> scores = {0.2f, 0.9f, 0.4f};
  const std::vector<int32_t> pos = {9, 4, 6};
  EXPECT_TRUE(select_by_deviation(scores, pos, 0.0).empty());
  EXPECT_EQ(select_by_deviation(scores, pos, 1.0), (std::vector<int32_t>{4, 6, 9}));
  EXPECT_TRUE(select_by_deviation({}, {}, 1.0).empty());
  EXPECT_EQ(select_by_deviation(scores, pos, 0.01), (std::vector<int32_t>{4}));
}

TEST(PlannerSelect, NanIsSelectedFirst) {
  const std::vector<float> scores = {0.2f, std::numeric_limits<float>::quiet_NaN(), 5.0f, 0.1f};
  EXPECT_EQ(select_by_deviation(scores, std::vector<int32_t>{0, 1, 2, 3}, 0.25), (std::vector<int32_t>{1}));
  EXPECT_EQ(select_by_deviation(scores, std::vector<int32_t>{0, 1, 2, 3}, 0.5), (std::vector<int32_t>{1, 2}));
}

// ---- guard ----

TEST(PlannerGuard, QuantileIsNearestRank) {
  const std::vector<float> s = {4, 1, 3, 2};
  EXPECT_EQ(deviation_quantile(s, 0.0), 1);
  EXPECT_EQ(deviation_quantile(s, 0.5), 2);  // lower median
  EXPECT_EQ(deviation_quantile(s, 0.75), 3);
  EXPECT_EQ(deviation_quantile(s, 0.9), 4);
  EXPECT_EQ(deviation_quantile(s, 1.0), 4);
}

TEST(PlannerGuard, Triggers) {
  std::vector<float> low(100, 0.1f), high(100, 0.1f);
  for (int i = 0; i < 60; ++i) high[i] = 0.9f;
  EXPECT_FALSE(should_fall_back(low, 0.5));
  EXPECT_TRUE(should_fall_back(high, 0.5));          // median 0.9
  EXPECT_FALSE(should_fall_back(high, 0.5, 0.3));    // 30th percentile 0.1
  // A few outliers do not trigger the median guard (selection recomputes them) but do trigger max.
  std::vector<float> outliers(100, 0.1f);
  outliers[3] = outliers[50] = 7.0f;
  EXPECT_FALSE(should_fall_back(outliers, 0.5));
  EXPECT_TRUE(should_fall_back(outliers, 0.5, 1.0));
  EXPECT_FALSE(should_fall_back({}, 0.0));
  std::vector<float> broken = low;
  broken[10] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(should_fall_back(broken, 0.5));
  broken[10] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(should_fall_back(broken, 0.5));
  EXPECT_FALSE(should_fall_back(high, std::numeric_limits<double>::infinity()));  // guard disabled
  EXPECT_FALSE(should_fall_back(std::vector<float>{0.5f}, 0.5));  // strictly greater
}

// ---- RecomputeSet ----

TEST(PlannerRecomputeSet, SortedUniqueUnderAllMutators) {
  RecomputeSet s = RecomputeSet::from_positions({9, 3, 3, 7, 0, 9});
  EXPECT_EQ(std::vector<int32_t>(s.positions().begin(), s.positions().end()), (std::vector<int32_t>{0, 3, 7, 9}));
  s.insert(5);
  s.insert(7);
  s.merge(std::vector<int32_t>{12, 1, 12, 3, 2});
  EXPECT_EQ(std::vector<int32_t>(s.positions().begin(), s.positions().end()),
            (std::vector<int32_t>{0, 1, 2, 3, 5, 7, 9, 12}));
  EXPECT_TRUE(s.contains(5));
  EXPECT_FALSE(s.contains(4));
  EXPECT_EQ(s.size(), 8);
  EXPECT_EQ(s.to_string(), "[0,4) 5 7 9 12");
  EXPECT_EQ(RecomputeSet::range(2, 5), RecomputeSet::from_positions({4, 3, 2}));
  EXPECT_TRUE(RecomputeSet::range(3, 3).empty());
  EXPECT_EQ(RecomputeSet().to_string(), "{}");
}

// ---- plan builders ----

TEST(PlannerPlan, FullAndPrefixPlans) {
  ReusePlan f = full_plan(10);
  EXPECT_TRUE(f.check().is_ok());
  EXPECT_EQ(f.n_recomputed(), 10);
  EXPECT_EQ(f.n_reused(), 0);
  ReusePlan p = prefix_plan(10, 6);
  EXPECT_TRUE(p.check().is_ok()) << p.check().to_string();
  EXPECT_EQ(p.n_reused(), 6);
  EXPECT_EQ(p.recompute, RecomputeSet::range(6, 10));
  EXPECT_EQ(p.exact_prefix, 6);
  EXPECT_TRUE(p.deviation_candidates().empty());
  // A full hit still recomputes the last token.
  ReusePlan h = prefix_plan(10, 10);
  EXPECT_TRUE(h.check().is_ok());
  EXPECT_EQ(h.n_reused(), 9);
  EXPECT_EQ(h.recompute, RecomputeSet::range(9, 10));
}

TEST(PlannerPlan, SemanticInitialRecomputeSet) {
  // donor: 0..19; prompt: 3 tokens inserted at the front, 2 replaced in the middle, last kept.
  Seq donor = iota_seq(20, 0);
  Seq target = {100, 101, 102};
  target.insert(target.end(), donor.begin(), donor.begin() + 8);
  target.insert(target.end(), {200, 201});
  target.insert(target.end(), donor.begin() + 10, donor.end());
  const align::EditScript s = align::align(donor, target);
  ASSERT_EQ(s.to_string(), "I3 K8(+3) D2 I2 K10(+3)");
  auto p = semantic_plan(static_cast<int32_t>(target.size()), 42, s);
  ASSERT_TRUE(p.is_ok());
  ASSERT_TRUE(p->check().is_ok()) << p->check().to_string();
  EXPECT_EQ(p->recompute, RecomputeSet::from_positions({0, 1, 2, 11, 12, 22}));
  EXPECT_EQ(p->n_reused(), 17);
  EXPECT_EQ(p->n_reused() + p->n_recomputed(), 23);
  EXPECT_EQ(p->reused, (std::vector<ReusedRun>{{0, 3, 8}, {10, 13, 10}}));
  const auto slots = p->slots();
  ASSERT_EQ(slots.size(), 18u);
  EXPECT_EQ(slots[0], (ReusedSlot{0, 3}));
  EXPECT_EQ(slots[0].shift(), 3);
  EXPECT_EQ(slots[17], (ReusedSlot{19, 22}));
  EXPECT_EQ(p->exact_prefix, 0);
  const auto cand = p->deviation_candidates();
  EXPECT_EQ(cand.size(), 17u);
  EXPECT_EQ(cand.front(), 3);
  EXPECT_EQ(cand.back(), 21);
  EXPECT_NE(p->to_string().find("semantic donor=42 n=23 reused=17 recompute=6"), std::string::npos) << p->to_string();
}

TEST(PlannerPlan, ExactPrefixIsNotACandidate) {
  Seq donor = iota_seq(30, 0);
  Seq target = donor;
  target[20] = 999;  // K20 D1 I1 K9
  auto p = semantic_plan(30, 1, align::align(donor, target));
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->exact_prefix, 20);
  EXPECT_EQ(p->recompute, RecomputeSet::from_positions({20, 29}));
  EXPECT_EQ(p->deviation_candidates(), (std::vector<int32_t>{21, 22, 23, 24, 25, 26, 27, 28}));
}

TEST(PlannerPlan, IdenticalDonorStillComputesTheLastToken) {
  const Seq donor = iota_seq(22, 0);
  auto p = semantic_plan(22, 3, align::align(donor, donor));  // K22
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->exact_prefix, 21);
  EXPECT_EQ(p->recompute, RecomputeSet::from_positions({21}));
  EXPECT_TRUE(p->deviation_candidates().empty());
  EXPECT_EQ(p->n_reused(), 21);
  EXPECT_TRUE(p->check().is_ok());
}

TEST(PlannerPlan, SemanticPlanProperties) {
  std::mt19937 rng(8);
  for (int iter = 0; iter < 1500; ++iter) {
    const int n = 1 + static_cast<int>(rng() % 80), m = 1 + static_cast<int>(rng() % 80);
    const int vocab = 2 + static_cast<int>(rng() % 40);
    Seq a(n), b(m);
    for (auto& t : a) t = static_cast<int32_t>(rng() % vocab);
    for (auto& t : b) t = static_cast<int32_t>(rng() % vocab);
    if (iter % 2) {  // mostly-shared pairs
      b = a;
      for (int e = 0; e < 3; ++e) b[rng() % b.size()] = static_cast<int32_t>(rng() % vocab);
      if (iter % 4 == 1) b.insert(b.begin(), {1000, 1001});
    }
    const align::EditScript s = align::align(a, b);
    auto p = semantic_plan(static_cast<int32_t>(b.size()), 3, s);
    ASSERT_TRUE(p.is_ok());
    ASSERT_TRUE(p->check().is_ok()) << p->check().to_string();
    const auto rec = p->recompute.positions();
    ASSERT_TRUE(std::is_sorted(rec.begin(), rec.end()));
    ASSERT_TRUE(std::adjacent_find(rec.begin(), rec.end()) == rec.end());
    ASSERT_TRUE(p->recompute.contains(static_cast<int32_t>(b.size()) - 1));
    for (const auto& r : s.runs) {
      if (r.op != align::EditOp::kInsert) continue;
      for (int32_t j = 0; j < r.n; ++j) ASSERT_TRUE(p->recompute.contains(r.dst + j));
    }
    ASSERT_EQ(p->n_reused() + p->n_recomputed(), static_cast<int64_t>(b.size()));
    // The cost model's I and C agree with the plan.
    SemanticCandidate c{3, 1.0, s};
    PlanRequest req;
    req.n_prompt = static_cast<int32_t>(b.size());
    req.semantic = &c;
    const CostEstimate cost = estimate_costs(req, PlannerConfig{});
    ASSERT_EQ(cost.semantic_initial, p->n_recomputed());
    ASSERT_EQ(cost.semantic_candidates, static_cast<int64_t>(p->deviation_candidates().size()));
    // Refining keeps every invariant.
    std::vector<float> scores(p->deviation_candidates().size());
    for (auto& x : scores) x = static_cast<float>(rng() % 100) / 1000.0f;
    auto out = refine_with_deviation(*p, scores, PlannerConfig{});
    ASSERT_TRUE(out.is_ok());
    ASSERT_EQ(out.value(), RefineOutcome::kSelected);
    ASSERT_EQ(p->n_recomputed(), cost.semantic_initial + cost.semantic_selected);
    ASSERT_TRUE(p->check().is_ok()) << p->check().to_string();
  }
}

TEST(PlannerPlan, RejectsMismatchedScripts) {
  const align::EditScript s = align::align(iota_seq(5, 0), iota_seq(6, 0));
  EXPECT_FALSE(semantic_plan(5, 1, s).is_ok());
  align::EditScript bad = s;
  bad.runs[0].n = 2;  // leaves a hole
  EXPECT_FALSE(semantic_plan(6, 1, bad).is_ok());
  EXPECT_FALSE(semantic_plan(0, 1, align::align({}, {})).is_ok());
}

// ---- mode choice ----

PlanRequest request(int32_t n, int32_t prefix_hit, const SemanticCandidate* c, int32_t n_layer = 32) {
  PlanRequest r;
  r.n_prompt = n;
  r.prefix_hit = prefix_hit;
  r.semantic = c;
  r.n_layer = n_layer;
  return r;
}

TEST(PlannerMode, CostModelByHand) {
  // donor 0..99; prompt = 10 new tokens + donor: I = 10 + last = 11, C = 99, k = ceil(0.15 * 99) = 15.
  Seq donor = iota_seq(100, 0), target = iota_seq(10, 500);
  target.insert(target.end(), donor.begin(), donor.end());
  const SemanticCandidate c = candidate(donor, target, 0.95);
  const CostEstimate cost = estimate_costs(request(110, 0, &c, 28), PlannerConfig{});
  EXPECT_EQ(cost.full, 110);
  EXPECT_EQ(cost.prefix, 110);
  ASSERT_TRUE(cost.semantic.has_value());
  EXPECT_EQ(cost.semantic_initial, 11);
  EXPECT_EQ(cost.semantic_candidates, 99);
  EXPECT_EQ(cost.semantic_selected, 15);
  EXPECT_DOUBLE_EQ(*cost.semantic, 11 + 15 + 84.0 / 28);
  auto p = plan(request(110, 0, &c, 28), PlannerConfig{});
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->mode, ReuseMode::kSemantic);
  EXPECT_EQ(p->donor_id, 7);
  EXPECT_DOUBLE_EQ(p->predicted_cost, *cost.semantic);
  EXPECT_TRUE(p->check().is_ok());
}

TEST(PlannerMode, PrefersPrefixWhenItCoversMostOfThePrompt) {
  // Exact prefix 900 of 1000; semantic keeps 950 but shifted, so it pays r of them + the pass.
  Seq donor = iota_seq(950, 0), target = iota_seq(50, 5000);
  target.insert(target.end(), donor.begin(), donor.end());
  const SemanticCandidate c = candidate(donor, target, 0.99);
  auto p = plan(request(1000, 900, &c), PlannerConfig{});
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->mode, ReuseMode::kPrefix);
  EXPECT_EQ(p->n_reused(), 900);
  EXPECT_EQ(p->recompute, RecomputeSet::range(900, 1000));
  EXPECT_DOUBLE_EQ(p->predicted_cost, 100);
  EXPECT_TRUE(p->check().is_ok());
}

TEST(PlannerMode, PrefersSemanticWhenAlignmentKeepsMuchMoreThanThePrefix) {
  // Prompt = donor with 5 tokens changed at 20: the exact prefix only gives 16 (one block).
  Seq donor = iota_seq(1000, 0), target = donor;
  for (int i = 20; i < 25; ++i) target[i] = 9000 + i;
  const SemanticCandidate c = candidate(donor, target, 0.97);
  auto p = plan(request(1000, 16, &c), PlannerConfig{});
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->mode, ReuseMode::kSemantic);
  EXPECT_EQ(p->exact_prefix, 20);
  EXPECT_TRUE(p->check().is_ok());
  EXPECT_LT(p->predicted_cost, 0.25 * 1000);
}

TEST(PlannerMode, FullWhenNothingSavesEnough) {
  auto p = plan(request(100, 0, nullptr), PlannerConfig{});
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->mode, ReuseMode::kFull);
  EXPECT_TRUE(p->check().is_ok());
  // A similar-looking donor whose alignment keeps little: semantic saves < 10%.
  Seq donor = iota_seq(100, 0), target = iota_seq(100, 0);
  for (int i = 0; i < 100; ++i)
    if (i % 10 != 0) target[i] = 1000 + i;  // keeps 10 of 100
  const SemanticCandidate weak = candidate(donor, target, 0.9);
  p = plan(request(100, 0, &weak), PlannerConfig{});
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->mode, ReuseMode::kFull);
  // Exact prefix of one token of a one-token prompt: nothing to save.
  p = plan(request(1, 1, nullptr), PlannerConfig{});
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->mode, ReuseMode::kFull);
}

TEST(PlannerMode, SimilarityThresholdGates) {
  Seq donor = iota_seq(200, 0), target = iota_seq(5, 700);
  target.insert(target.end(), donor.begin(), donor.end());
  const SemanticCandidate lo = candidate(donor, target, 0.79), hi = candidate(donor, target, 0.80);
  EXPECT_EQ(plan(request(205, 0, &lo), PlannerConfig{})->mode, ReuseMode::kFull);
  EXPECT_FALSE(estimate_costs(request(205, 0, &lo), PlannerConfig{}).semantic.has_value());
  EXPECT_EQ(plan(request(205, 0, &hi), PlannerConfig{})->mode, ReuseMode::kSemantic);
}

TEST(PlannerMode, MinSavingAndRatioOverride) {
  // I = 1, C = 99 kept at +0 after an exact prefix of 0 (first token replaced).
  Seq donor = iota_seq(100, 0), target = donor;
  target[0] = 555;
  const SemanticCandidate c = candidate(donor, target, 0.9);
  PlanRequest req = request(100, 0, &c, 1);  // n_layer 1: the first-layer pass costs a whole token each
  const CostEstimate cost = estimate_costs(req, PlannerConfig{});
  EXPECT_DOUBLE_EQ(*cost.semantic, 2 + 98);  // I = {0, 99}; C = 98: every candidate computed once
  EXPECT_EQ(plan(req, PlannerConfig{})->mode, ReuseMode::kFull);
  req.n_layer = 32;
  EXPECT_EQ(plan(req, PlannerConfig{})->mode, ReuseMode::kSemantic);
  req.recompute_ratio = 1.0;  // recompute every candidate: no saving
  EXPECT_EQ(plan(req, PlannerConfig{})->mode, ReuseMode::kFull);
  req.recompute_ratio = 0.0;
  EXPECT_DOUBLE_EQ(estimate_costs(req, PlannerConfig{}).semantic.value(), 2 + 98.0 / 32);
  PlannerConfig strict;
  strict.min_saving = 0.99;  // demand more than can be saved
  EXPECT_EQ(plan(req, strict)->mode, ReuseMode::kFull);
}

TEST(PlannerMode, RejectsInvalidRequests) {
  const PlannerConfig cfg;
  EXPECT_EQ(plan(request(0, 0, nullptr), cfg).status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(plan(request(10, 11, nullptr), cfg).is_ok());
  EXPECT_FALSE(plan(request(10, -1, nullptr), cfg).is_ok());
  EXPECT_FALSE(plan(request(10, 0, nullptr, 0), cfg).is_ok());
  PlanRequest r = request(10, 0, nullptr);
  r.recompute_ratio = 1.5;
  EXPECT_FALSE(plan(r, cfg).is_ok());
  const SemanticCandidate c = candidate(iota_seq(5, 0), iota_seq(9, 0), 0.9);
  EXPECT_FALSE(plan(request(10, 0, &c), cfg).is_ok());  // script for 9 tokens
  PlannerConfig bad;
  bad.recompute_ratio = -0.1;
  EXPECT_FALSE(plan(request(10, 0, nullptr), bad).is_ok());
}

// ---- refinement after the first layer ----

TEST(PlannerRefine, SelectsTopRatioOfCandidates) {
  Seq donor = iota_seq(40, 0), target = iota_seq(4, 100);
  target.insert(target.end(), donor.begin(), donor.end());  // I4 K40(+4)
  auto p = semantic_plan(44, 9, align::align(donor, target));
  ASSERT_TRUE(p.is_ok());
  const auto cand = p->deviation_candidates();  // 4..42 (43 is the last token)
  ASSERT_EQ(cand.size(), 39u);
  std::vector<float> scores(cand.size(), 0.01f);
  scores[0] = 0.3f;   // position 4, right after the insert
  scores[5] = 0.2f;   // position 9
  scores[20] = 0.2f;  // position 24
  scores[30] = 0.1f;  // position 34
  scores[31] = 0.1f;  // position 35
  scores[32] = 0.1f;  // position 36
  auto out = refine_with_deviation(*p, scores, PlannerConfig{});  // k = ceil(0.15 * 39) = 6
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(out.value(), RefineOutcome::kSelected);
  EXPECT_EQ(p->recompute, RecomputeSet::from_positions({0, 1, 2, 3, 4, 9, 24, 34, 35, 36, 43}));
  EXPECT_TRUE(p->check().is_ok());
  EXPECT_EQ(p->n_reused(), 44 - 11);
}

TEST(PlannerRefine, GuardFallsBackToFull) {
  Seq donor = iota_seq(40, 0), target = iota_seq(4, 100);
  target.insert(target.end(), donor.begin(), donor.end());
  auto p = semantic_plan(44, 9, align::align(donor, target));
  ASSERT_TRUE(p.is_ok());
  std::vector<float> scores(p->deviation_candidates().size(), 0.8f);
  auto out = refine_with_deviation(*p, scores, PlannerConfig{});
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(out.value(), RefineOutcome::kFellBack);
  EXPECT_EQ(p->mode, ReuseMode::kFull);
  EXPECT_TRUE(p->fell_back);
  EXPECT_EQ(p->donor_id, 9);
  EXPECT_EQ(p->n_recomputed(), 44);
  EXPECT_TRUE(p->check().is_ok());
  EXPECT_NE(p->to_string().find("full(fell back)"), std::string::npos);
}

TEST(PlannerRefine, RankScoresChooseTheRowsWhileTheGuardReadsTheRelativeScores) {
  Seq donor = iota_seq(40, 0), target = iota_seq(4, 100);
  target.insert(target.end(), donor.begin(), donor.end());  // I4 K40(+4); candidates 4..42
  auto p = semantic_plan(44, 9, align::align(donor, target));
  ASSERT_TRUE(p.is_ok());
  const size_t n_cand = p->deviation_candidates().size();
  std::vector<float> scores(n_cand, 0.01f), rank(n_cand, 0.0f);
  scores[0] = 0.3f;  // the relative scores would pick position 4 first...
  for (size_t i = 10; i < 16; ++i) rank[i] = 1.0f + static_cast<float>(i);  // ...the rank scores pick 14..19
  auto out = refine_with_deviation(*p, scores, PlannerConfig{}, std::nullopt, rank);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(out.value(), RefineOutcome::kSelected);
  EXPECT_EQ(p->recompute, RecomputeSet::from_positions({0, 1, 2, 3, 14, 15, 16, 17, 18, 19, 43}));
  // The guard ignores the rank scores: high relative deviation falls back whatever the ranking says.
  auto q = semantic_plan(44, 9, align::align(donor, target));
  ASSERT_TRUE(q.is_ok());
  std::vector<float> bad(n_cand, 0.8f);
  out = refine_with_deviation(*q, bad, PlannerConfig{}, std::nullopt, rank);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(out.value(), RefineOutcome::kFellBack);
  // Rank scores of the wrong length are an error.
  auto r = semantic_plan(44, 9, align::align(donor, target));
  ASSERT_TRUE(r.is_ok());
  std::vector<float> short_rank(n_cand - 1, 0.0f);
  EXPECT_EQ(refine_with_deviation(*r, scores, PlannerConfig{}, std::nullopt, short_rank).status().code(),
            Code::kInvalidArgument);
}

// A plan with own-donor candidates 4..43 (40) and a fragment run's candidates 44..63 (20); 64 is the last token.
ReusePlan own_and_fragment_plan() {
  Seq donor = iota_seq(40, 0), target = iota_seq(4, 100);
  target.insert(target.end(), donor.begin(), donor.end());
  for (int32_t i = 0; i < 21; ++i) target.push_back(200 + i);  // I4 K40(+4) I21
  auto p = semantic_plan(65, 9, align::align(donor, target));
  KVS_CHECK(p.is_ok());
  ReusePlan plan = std::move(p).value();
  const ReusedRun frag{0, 44, 20, 5};
  add_fragment_runs(plan, std::span<const ReusedRun>(&frag, 1));
  KVS_CHECK(plan.check().is_ok());
  return plan;
}

TEST(PlannerRefine, FragmentBudgetRanksFragmentCandidatesApart) {
  ReusePlan plan = own_and_fragment_plan();
  const auto cand = plan.deviation_candidates();
  const auto frag = plan.fragment_candidates();
  ASSERT_EQ(cand.size(), 60u);
  ASSERT_EQ(frag.size(), 60u);
  for (size_t i = 0; i < cand.size(); ++i) EXPECT_EQ(frag[i], cand[i] >= 44 ? 1 : 0) << cand[i];
  // Own-donor candidates deviate more than every fragment candidate; among the fragments, 50..59 most.
  std::vector<float> scores(cand.size());
  for (size_t i = 0; i < cand.size(); ++i)
    scores[i] = cand[i] < 44 ? 0.3f + 0.001f * static_cast<float>(i) : (cand[i] >= 50 && cand[i] < 60 ? 0.05f : 0.01f);
  PlannerConfig cfg;
  cfg.recompute_ratio = 0.1;
  // One ranking (fragment_ratio < 0): k = ceil(0.1 * 60) = 6, all own-donor: the top scores.
  ReusePlan one = plan;
  ASSERT_TRUE(refine_with_deviation(one, scores, cfg).is_ok());
  EXPECT_EQ(one.recompute.size() - plan.recompute.size(), 6);
  for (int32_t p = 44; p < 64; ++p) EXPECT_FALSE(one.recompute.contains(p)) << p;
  // Apart: ceil(0.1 * 40) = 4 own-donor (the reference's top 4 of them) + ceil(0.5 * 20) = 10 fragment (50..59).
  cfg.fragment_ratio = 0.5;
  const SelectionSplit split = selection_split(frag, cfg.recompute_ratio, cfg);
  EXPECT_TRUE(split.split);
  EXPECT_EQ(split.own, 4);
  EXPECT_EQ(split.fragment, 10);
  ReusePlan apart = plan;
  int64_t k = 0;
  ASSERT_TRUE(refine_with_deviation(apart, scores, cfg, std::nullopt, {}, 1.0, &k).is_ok());
  EXPECT_EQ(k, 14);
  std::vector<float> own_scores(scores.begin(), scores.begin() + 40);
  std::vector<int32_t> own_pos(cand.begin(), cand.begin() + 40);
  std::vector<int32_t> want = reference_select(own_scores, own_pos, 4);
  for (int32_t p = 50; p < 60; ++p) want.push_back(p);
  RecomputeSet expect = plan.recompute;
  expect.merge(want);
  EXPECT_EQ(apart.recompute, expect);
  EXPECT_TRUE(apart.check().is_ok());
  // The planner prices the split selection: 14 rows through every layer, the other 46 candidates' first layer.
  PlanRequest req{65, 30, 0, nullptr, std::nullopt};
  auto priced = plan_ready(plan, req, cfg);
  ASSERT_TRUE(priced.is_ok());
  EXPECT_DOUBLE_EQ(priced->predicted_cost, static_cast<double>(plan.recompute.size() + 14) + 46.0 / 30.0);
  // A budget caps the sum, own-donor candidates first.
  cfg.recompute_budget = 7;
  const SelectionSplit capped = selection_split(frag, cfg.recompute_ratio, cfg);
  EXPECT_EQ(capped.own, 4);
  EXPECT_EQ(capped.fragment, 3);
  // No fragment candidates: one ranking whatever fragment_ratio says.
  const std::vector<uint8_t> none(40, 0);
  EXPECT_FALSE(selection_split(none, 0.1, cfg).split);
  cfg.fragment_ratio = 1.5;
  EXPECT_EQ(cfg.validate().code(), Code::kInvalidArgument);
}

TEST(PlannerRefine, RejectsWrongScoreCountAndIgnoresNonSemantic) {
  Seq donor = iota_seq(10, 0), target = donor;
  target[5] = 77;
  auto p = semantic_plan(10, 1, align::align(donor, target));
  ASSERT_TRUE(p.is_ok());
  std::vector<float> wrong(p->deviation_candidates().size() + 1, 0.0f);
  EXPECT_EQ(refine_with_deviation(*p, wrong, PlannerConfig{}).status().code(), Code::kInvalidArgument);
  ReusePlan f = full_plan(10);
  auto out = refine_with_deviation(f, {}, PlannerConfig{});
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(out.value(), RefineOutcome::kNothingToDo);
}

TEST(PlannerConfigCheck, DefaultsAndValidation) {
  PlannerConfig c;
  EXPECT_TRUE(c.validate().is_ok());
  EXPECT_DOUBLE_EQ(c.recompute_ratio, 0.15);
  EXPECT_DOUBLE_EQ(c.similarity_threshold, 0.80);
  EXPECT_DOUBLE_EQ(c.min_saving, 0.10);
  auto bad = [](auto mutate) {
    PlannerConfig x;
    mutate(x);
    return !x.validate().is_ok();
  };
  EXPECT_TRUE(bad([](PlannerConfig& x) { x.recompute_ratio = 1.01; }));
  EXPECT_TRUE(bad([](PlannerConfig& x) { x.recompute_ratio = std::nan(""); }));
  EXPECT_TRUE(bad([](PlannerConfig& x) { x.recompute_budget = -2; }));
  EXPECT_TRUE(bad([](PlannerConfig& x) { x.similarity_threshold = 1.5; }));
  EXPECT_TRUE(bad([](PlannerConfig& x) { x.min_saving = -0.1; }));
  EXPECT_TRUE(bad([](PlannerConfig& x) { x.guard_threshold = -1; }));
  EXPECT_TRUE(bad([](PlannerConfig& x) { x.guard_quantile = 2; }));
  EXPECT_FALSE(bad([](PlannerConfig& x) { x.guard_threshold = std::numeric_limits<double>::infinity(); }));
}

}  // namespace
}  // namespace kvs::share

namespace kvs::share {
namespace {

// donor 100..129; the prompt deletes donor[10, 13) and inserts two tokens where donor[20] was: runs
// K[0,10) (exact prefix), D[10,13), K src13 -> dst10 (7), I dst17 (2), K src20 -> dst19 (10); n = 29.
TEST(EditAware, RecomputesTokensAfterEachEditAndTheTemplateTail) {
  std::vector<int32_t> donor(30), prompt;
  for (int i = 0; i < 30; ++i) donor[i] = 100 + i;
  prompt.insert(prompt.end(), donor.begin(), donor.begin() + 10);
  prompt.insert(prompt.end(), donor.begin() + 13, donor.begin() + 20);
  prompt.insert(prompt.end(), {900, 901});
  prompt.insert(prompt.end(), donor.begin() + 20, donor.end());
  auto p = semantic_plan(29, 1, align::align(donor, prompt));
  ASSERT_TRUE(p.is_ok());
  ReusePlan plan = std::move(p).value();
  ASSERT_EQ(plan.exact_prefix, 10);
  EXPECT_EQ(plan.recompute, RecomputeSet::from_positions({17, 18, 28}));
  ReusePlan off = plan;
  add_edit_aware(off, 0, 0);
  EXPECT_EQ(off.recompute, plan.recompute);
  add_edit_aware(plan, 2, 3);
  EXPECT_EQ(plan.recompute, RecomputeSet::from_positions({10, 11, 17, 18, 19, 20, 26, 27, 28}));
  EXPECT_TRUE(plan.check().is_ok()) << plan.check().to_string();
  for (int32_t c : plan.deviation_candidates()) EXPECT_FALSE(plan.recompute.contains(c)) << c;
  // A tail longer than the prompt stops at the exact prefix.
  add_edit_aware(plan, 0, 100);
  EXPECT_EQ(plan.recompute, RecomputeSet::range(10, 29));
}

TEST(EditAware, PlannerPricesTheExtraRowsAndMayPreferAnExactOption) {
  std::vector<int32_t> donor(40), prompt;
  for (int i = 0; i < 40; ++i) donor[i] = 100 + i;
  prompt = donor;
  prompt.insert(prompt.begin() + 2, 7);  // one insertion near the start: 37 reused tokens shifted by one
  SemanticCandidate c{1, 0.95, align::align(donor, prompt)};
  PlannerConfig cfg;
  PlanRequest req{41, 30, 0, &c, std::nullopt};
  auto base = plan(req, cfg);
  ASSERT_TRUE(base.is_ok());
  ASSERT_EQ(base->mode, ReuseMode::kSemantic);
  cfg.edit_window = 4;
  cfg.edit_tail = 5;
  auto ea = plan(req, cfg);
  ASSERT_TRUE(ea.is_ok());
  ASSERT_EQ(ea->mode, ReuseMode::kSemantic);
  EXPECT_EQ(ea->recompute.size(), base->recompute.size() + 4 + 5 - 1);  // the last token was recomputed anyway
  EXPECT_GT(ea->predicted_cost, base->predicted_cost);
  // So many forced rows that semantic reuse no longer saves 10% over the best exact option: a prefix hit wins.
  cfg.edit_tail = 36;
  req.prefix_hit = 2;
  auto none = plan(req, cfg);
  ASSERT_TRUE(none.is_ok());
  EXPECT_NE(none->mode, ReuseMode::kSemantic);
  cfg.edit_window = -1;
  EXPECT_FALSE(cfg.validate().is_ok());
}

}  // namespace
}  // namespace kvs::share
