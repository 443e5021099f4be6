// The planner on the issue's case: a 467-token donor and a 1,518-token prompt that inserts 1,051 new tokens
// after the donor's first 24 and then repeats the donor's other 443 tokens (3 of them changed). With the old
// coarse path (Myers capped at 1,024, then prefix + suffix only) the script kept 50 tokens and the planner
// chose the exact prefix; align() now keeps 464 and the planner reuses them.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "align/align_testing.h"
#include "align/edit_script.h"
#include "share/planner.h"
#include "share/reuse_plan.h"

namespace kvs::share {
namespace {

using align::test_util::Seq;

struct IssueCase {
  Seq donor, prompt;
};

IssueCase issue_case(uint32_t seed) {
  std::mt19937 rng(seed);
  IssueCase c;
  c.donor = align::test_util::zipf_tokens(rng, 467, 2000);
  c.prompt.assign(c.donor.begin(), c.donor.begin() + 24);
  const Seq fresh = align::test_util::zipf_tokens(rng, 1051, 2000);  // same vocabulary as the donor
  c.prompt.insert(c.prompt.end(), fresh.begin(), fresh.end());
  c.prompt.insert(c.prompt.end(), c.donor.begin() + 24, c.donor.end());
  for (int p : {24 + 1051 + 100, 24 + 1051 + 250, 1518 - 27}) c.prompt[p] = 5000 + p;
  return c;
}

PlanRequest request(const SemanticCandidate& cand) {
  PlanRequest req;
  req.n_prompt = static_cast<int32_t>(cand.script.target_len);
  req.n_layer = 30;
  req.prefix_hit = 16;  // one shared block of the exact prefix
  req.semantic = &cand;
  return req;
}

TEST(AlignPlan, LongInsertReusesTheDonorsTail) {
  const IssueCase c = issue_case(1);
  ASSERT_EQ(c.donor.size(), 467u);
  ASSERT_EQ(c.prompt.size(), 1518u);
  SemanticCandidate cand{42, 0.93, align::align(c.donor, c.prompt)};  // the engine's defaults: cap 1,024
  EXPECT_FALSE(cand.script.capped) << cand.script.to_string();
  EXPECT_GE(cand.script.kept(), 400);
  auto p = plan(request(cand), PlannerConfig{});
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p.value().mode, ReuseMode::kSemantic) << p.value().to_string();
  EXPECT_TRUE(p.value().check().is_ok());
  int64_t reused = 0;
  for (const ReusedRun& r : p.value().reused) reused += r.n;
  EXPECT_GE(reused, 400);
  EXPECT_GE(p.value().n_reused(), 400);
  EXPECT_EQ(p.value().exact_prefix, 24);
}

TEST(AlignPlan, TheOldCoarsePathFellBackToPrefix) {
  const IssueCase c = issue_case(1);
  align::AlignOptions coarse;
  coarse.anchor_fallback = false;  // Myers capped at 1,024, then the common prefix and suffix only
  SemanticCandidate cand{42, 0.93, align::align(c.donor, c.prompt, coarse)};
  EXPECT_TRUE(cand.script.capped);
  EXPECT_EQ(cand.script.kept(), 24 + 26);
  auto p = plan(request(cand), PlannerConfig{});
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p.value().mode, ReuseMode::kPrefix);
}

TEST(AlignPlan, LongInsertAcrossSeeds) {
  for (uint32_t seed = 2; seed <= 12; ++seed) {
    const IssueCase c = issue_case(seed);
    SemanticCandidate cand{seed, 0.93, align::align(c.donor, c.prompt)};
    EXPECT_FALSE(cand.script.capped) << "seed " << seed;
    EXPECT_GE(cand.script.kept(), 400) << "seed " << seed;
    auto p = plan(request(cand), PlannerConfig{});
    ASSERT_TRUE(p.is_ok());
    EXPECT_EQ(p.value().mode, ReuseMode::kSemantic) << "seed " << seed;
  }
}

}  // namespace
}  // namespace kvs::share
