// Run retrieval (share/run_retrieval.h): donors found by the token runs they share with a prompt, through the
// fragment index, before any embedding. Votes are counted by hand from how each prompt is built: a shared run
// [s, e) of a donor holds one vote per block start o of that donor with s <= o and o + 16 <= e.
#include <gtest/gtest.h>

#include "token_runs.h"


#include "share/donor_store.h"
#include "share/run_retrieval.h"

namespace kvs::share {
namespace {

constexpr int32_t kBs = 16;
using namespace kvs::testing_tokens;

class RunRetrieval : public ::testing::Test, protected TwoDonors {};

// prompt = noise(10) A[40, 140) noise(5): A's block starts 48, 64, 80, 96, 112 lie in the run (112 + 16 <= 140).
TEST_F(RunRetrieval, ADonorIsFoundByTheRunItShares) {
  std::vector<int32_t> prompt;
  const auto noise = seq(9000, 30);
  append(prompt, noise, 0, 10);
  append(prompt, a_tokens, 40, 140);
  append(prompt, noise, 10, 15);
  const auto c = donors_by_runs(store, 1, prompt, 0, kBs, 4);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].donor_id, a);
  EXPECT_EQ(c[0].votes, 5);
  EXPECT_TRUE(donors_by_runs(store, 2, prompt, 0, kBs, 4).empty());  // another share domain sees nothing
  EXPECT_TRUE(donors_by_runs(store, 1, noise, 0, kBs, 4).empty());   // nothing shared, no candidate
}

// prompt = A[40, 140) B[0, 200): B's 12 block starts 0 .. 176 against A's 5; one candidate asked: B alone;
// lookups from position 100 on (past A's run) see B only.
TEST_F(RunRetrieval, MostVotesFirstAndOnlyFromTheGivenPosition) {
  std::vector<int32_t> prompt;
  append(prompt, a_tokens, 40, 140);
  append(prompt, b_tokens, 0, 200);
  auto c = donors_by_runs(store, 1, prompt, 0, kBs, 4);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].donor_id, b);
  EXPECT_EQ(c[0].votes, 12);
  EXPECT_EQ(c[1].donor_id, a);
  EXPECT_EQ(c[1].votes, 5);
  c = donors_by_runs(store, 1, prompt, 0, kBs, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].donor_id, b);
  c = donors_by_runs(store, 1, prompt, 100, kBs, 4);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].donor_id, b);
}

// A donor truncated by an eviction lends only what is still cached: evicting B's block 4 (tokens 64..79)
// leaves its block starts 0, 16, 32, 48 (48 + 16 <= 64); a store without a fragment index finds nothing.
TEST_F(RunRetrieval, TruncatedDonorsVoteWithWhatIsLeft) {
  store.on_block_evicted(100 + 4);
  ASSERT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();
  const auto c = donors_by_runs(store, 1, b_tokens, 0, kBs, 4);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].donor_id, b);
  EXPECT_EQ(c[0].votes, 4);
  DonorStore plain{4, 16};
  plain.add(1, b_tokens, blocks(300, 200, kBs), axis(1));
  EXPECT_TRUE(donors_by_runs(plain, 1, b_tokens, 0, kBs, 4).empty());
}

}  // namespace
}  // namespace kvs::share
