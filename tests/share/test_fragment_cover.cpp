// Fragment index and cover (issue 10): block-aligned windows of donors' tokens find the donors of a prompt's
// pieces; the cover takes the longest runs first and never crosses share domains; truncated donors lend only
// what is still cached. Expected runs are written down from how each prompt was built, not from the code.
#include <gtest/gtest.h>

#include "token_runs.h"


#include "align/edit_script.h"
#include "share/donor_store.h"
#include "share/fragment_cover.h"
#include "share/fragment_index.h"
#include "share/planner.h"

namespace kvs::share {
namespace {

constexpr int32_t kBs = 16;
using namespace kvs::testing_tokens;

// Every run really matches its donor, inside the donor's usable tokens; runs sorted and disjoint.
void expect_valid(const DonorStore& store, const std::vector<int32_t>& prompt, const std::vector<ReusedRun>& runs) {
  for (size_t i = 0; i < runs.size(); ++i) {
    const ReusedRun& r = runs[i];
    const Donor* d = store.get(static_cast<uint64_t>(r.donor));
    ASSERT_NE(d, nullptr);
    ASSERT_LE(r.src + r.n, d->usable_tokens(kBs));
    for (int32_t j = 0; j < r.n; ++j) ASSERT_EQ(d->tokens[r.src + j], prompt[r.dst + j]) << "run " << i;
    if (i > 0) ASSERT_LE(runs[i - 1].dst + runs[i - 1].n, r.dst);
  }
}

TEST(FragmentIndex, BlockAlignedWindowsPerDomainFollowTruncation) {
  FragmentIndex fi(kBs, 16);
  const auto t = seq(100, 100);
  fi.add(1, 9, t, 100);
  EXPECT_EQ(fi.stats().entries, 6u);  // block starts 0, 16, 32, 48, 64, 80 (80 + 16 <= 100)
  const std::span<const int32_t> w32(t.data() + 32, 16), w33(t.data() + 33, 16);
  ASSERT_EQ(fi.lookup(1, w32).size(), 1u);
  EXPECT_EQ(fi.lookup(1, w32)[0].donor_id, 9u);
  EXPECT_EQ(fi.lookup(1, w32)[0].offset, 32);
  EXPECT_TRUE(fi.lookup(1, w33).empty());  // not a block start
  EXPECT_TRUE(fi.lookup(2, w32).empty());  // another share domain
  fi.truncate(1, 9, t, 100, 40);           // two blocks and a half left: windows at 0 and 16
  EXPECT_EQ(fi.stats().entries, 2u);
  EXPECT_TRUE(fi.lookup(1, w32).empty());
  fi.remove(1, 9, t, 40);
  EXPECT_EQ(fi.stats().entries, 0u);
  EXPECT_EQ(fi.stats().keys, 0u);
}

class FragmentCover : public ::testing::Test, protected TwoDonors {
 protected:
  void SetUp() override {
    // prompt = noise(10) A[40, 140) noise(7) B[16, 180) noise(5)
    const auto noise = seq(9000, 30);
    append(prompt, noise, 0, 10);
    append(prompt, a_tokens, 40, 140);
    append(prompt, noise, 10, 17);
    append(prompt, b_tokens, 16, 180);
    append(prompt, noise, 17, 22);
    ASSERT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();
  }
  std::vector<int32_t> prompt;
};

TEST_F(FragmentCover, PiecesOfTwoDonorsAreFoundWhole) {
  const ReusePlan base = insert_only_plan(static_cast<int32_t>(prompt.size()));
  const auto runs = cover_with_fragments(store, 1, prompt, base, kBs);
  ASSERT_NO_FATAL_FAILURE(expect_valid(store, prompt, runs));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0], (ReusedRun{40, 10, 100, static_cast<int64_t>(a)}));
  EXPECT_EQ(runs[1], (ReusedRun{16, 117, 164, static_cast<int64_t>(b)}));
  ReusePlan plan = base;
  add_fragment_runs(plan, runs);
  ASSERT_TRUE(plan.check().is_ok()) << plan.check().to_string();
  EXPECT_EQ(plan.n_reused(), 264);
  EXPECT_EQ(plan.n_recomputed(), 10 + 7 + 5);
  EXPECT_EQ(plan.donors(), (std::vector<int64_t>{static_cast<int64_t>(a), static_cast<int64_t>(b)}));
  // Every run start is an edit boundary for the edit-aware selection.
  add_edit_aware(plan, 2, 0);
  EXPECT_TRUE(plan.recompute.contains(10) && plan.recompute.contains(11) && plan.recompute.contains(117));
  EXPECT_TRUE(plan.check().is_ok());
  // Another share domain sees none of it.
  EXPECT_TRUE(cover_with_fragments(store, 2, prompt, base, kBs).empty());
}

// The tail guard keeps the last tokens for computation: prompt length 286, so a guard of 60 leaves positions
// [0, 226) to fragments (B's run stops at 226), one of 200 leaves [0, 86) (A's run is cut, B's is gone).
TEST_F(FragmentCover, TailGuardLeavesTheLastTokensToCompute) {
  const ReusePlan base = insert_only_plan(static_cast<int32_t>(prompt.size()));
  ASSERT_EQ(prompt.size(), 286u);
  FragmentCoverOptions opt;
  opt.tail_guard = 60;
  auto runs = cover_with_fragments(store, 1, prompt, base, kBs, opt);
  ASSERT_NO_FATAL_FAILURE(expect_valid(store, prompt, runs));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0], (ReusedRun{40, 10, 100, static_cast<int64_t>(a)}));
  EXPECT_EQ(runs[1], (ReusedRun{16, 117, 109, static_cast<int64_t>(b)}));
  opt.tail_guard = 200;
  runs = cover_with_fragments(store, 1, prompt, base, kBs, opt);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], (ReusedRun{40, 10, 76, static_cast<int64_t>(a)}));
  opt.tail_guard = 1000;  // longer than the prompt: nothing for fragments
  EXPECT_TRUE(cover_with_fragments(store, 1, prompt, base, kBs, opt).empty());
}

// With an own donor the guard covers only the final gap, after the own donor's last run: when B is the own
// donor (its run ends at 281), A's piece inside the last 200 tokens stays a fragment's; when A is the own donor
// (its run ends at 110), B's piece is the final gap and is guarded as without a donor.
TEST_F(FragmentCover, TailGuardCoversOnlyTheGapAfterTheOwnDonorsLastRun) {
  const auto n = static_cast<int32_t>(prompt.size());
  FragmentCoverOptions opt;
  opt.tail_guard = 200;
  auto own_b = semantic_plan(n, static_cast<int64_t>(b), align::align(b_tokens, prompt));
  ASSERT_TRUE(own_b.is_ok());
  auto runs = cover_with_fragments(store, 1, prompt, own_b.value(), kBs, opt);
  ASSERT_NO_FATAL_FAILURE(expect_valid(store, prompt, runs));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], (ReusedRun{40, 10, 100, static_cast<int64_t>(a)}));
  auto own_a = semantic_plan(n, static_cast<int64_t>(a), align::align(a_tokens, prompt));
  ASSERT_TRUE(own_a.is_ok());
  EXPECT_TRUE(cover_with_fragments(store, 1, prompt, own_a.value(), kBs, opt).empty());
  opt.tail_guard = 60;  // the final gap's last 60 tokens only: B's piece up to 226, as without a donor
  runs = cover_with_fragments(store, 1, prompt, own_a.value(), kBs, opt);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], (ReusedRun{16, 117, 109, static_cast<int64_t>(b)}));
}

TEST_F(FragmentCover, TruncatedDonorLendsOnlyWhatIsCached) {
  store.on_block_evicted(100 + 5);  // B keeps blocks 0..4: tokens [0, 80)
  ASSERT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();
  const auto runs = cover_with_fragments(store, 1, prompt, insert_only_plan(static_cast<int32_t>(prompt.size())), kBs);
  ASSERT_NO_FATAL_FAILURE(expect_valid(store, prompt, runs));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1], (ReusedRun{16, 117, 64, static_cast<int64_t>(b)}));
  store.on_block_evicted(1);  // A leaves the store
  ASSERT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();
  const auto only_b = cover_with_fragments(store, 1, prompt, insert_only_plan(static_cast<int32_t>(prompt.size())), kBs);
  ASSERT_EQ(only_b.size(), 1u);
  EXPECT_EQ(only_b[0].donor, static_cast<int64_t>(b));
}

// The embedding donor's alignment keeps A's piece; the cover fills the inserted B piece (and gives the longest
// run the overlap when two candidates compete).
TEST_F(FragmentCover, FillsTheInsertsOfTheBestDonorsAlignment) {
  const align::EditScript script = align::align(a_tokens, prompt);
  ASSERT_GE(script.kept(), 100);
  auto p = semantic_plan(static_cast<int32_t>(prompt.size()), static_cast<int64_t>(a), script);
  ASSERT_TRUE(p.is_ok());
  ReusePlan plan = std::move(p).value();
  const auto runs = cover_with_fragments(store, 1, prompt, plan, kBs);
  ASSERT_NO_FATAL_FAILURE(expect_valid(store, prompt, runs));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], (ReusedRun{16, 117, 164, static_cast<int64_t>(b)}));
  add_fragment_runs(plan, runs);
  ASSERT_TRUE(plan.check().is_ok()) << plan.check().to_string();
  EXPECT_EQ(plan.n_reused(), 264);
  ASSERT_EQ(plan.reused.size(), 2u);
  EXPECT_EQ(plan.reused[0].donor, -1);  // A's KEEP run, as the script says
  EXPECT_EQ(plan.donors(), (std::vector<int64_t>{static_cast<int64_t>(a), static_cast<int64_t>(b)}));
}

// The planner prices a multi-donor plan from its own sets: I = 22 (noise + last), C = 264 reused slots, r = 0.
TEST_F(FragmentCover, PlannerPricesTheMultiDonorPlan) {
  ReusePlan plan = insert_only_plan(static_cast<int32_t>(prompt.size()));
  add_fragment_runs(plan, cover_with_fragments(store, 1, prompt, plan, kBs));
  PlannerConfig cfg;
  cfg.recompute_ratio = 0.0;
  PlanRequest req{static_cast<int32_t>(prompt.size()), 30, 0, nullptr, std::nullopt};
  auto chosen = plan_ready(plan, req, cfg);
  ASSERT_TRUE(chosen.is_ok());
  EXPECT_EQ(chosen->mode, ReuseMode::kSemantic);
  EXPECT_NEAR(chosen->predicted_cost, 22 + 264.0 / 30, 1e-9);
  EXPECT_EQ(chosen->donors().size(), 2u);
  req.prefix_hit = static_cast<int32_t>(prompt.size()) - 1;  // an exact prefix of all but the last token wins
  auto exact = plan_ready(plan, req, cfg);
  ASSERT_TRUE(exact.is_ok());
  EXPECT_EQ(exact->mode, ReuseMode::kPrefix);
}

TEST(ReusePlanFragments, CheckRejectsAFragmentOverAReusedKeepAndUncoveredInserts) {
  align::EditScript s;
  s.donor_len = 20;
  s.target_len = 40;
  s.runs = {{align::EditOp::kKeep, 0, 0, 20}, {align::EditOp::kInsert, 20, 20, 20}};
  ReusePlan plan = semantic_plan(40, 5, s).value();
  ReusePlan bad = plan;
  bad.reused.push_back({0, 25, 10, 6});
  bad.recompute = RecomputeSet::from_positions({20, 21, 22, 23, 24, 35, 36, 37, 38, 39});
  ASSERT_TRUE(bad.check().is_ok()) << bad.check().to_string();  // a fragment over inserted positions
  bad.recompute = RecomputeSet::from_positions({20, 21, 22, 23, 35, 36, 37, 38, 39});
  EXPECT_FALSE(bad.check().is_ok());  // position 24: inserted, neither covered nor recomputed
  ReusePlan over = plan;
  over.reused[0].n = 10;  // an own-donor run that is no KEEP run of the script
  EXPECT_FALSE(over.check().is_ok());
}

}  // namespace
}  // namespace kvs::share
