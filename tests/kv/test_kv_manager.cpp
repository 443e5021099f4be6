#include "kv/kv_manager.h"

#include <gtest/gtest.h>

#include <numeric>

namespace kvs::kv {
namespace {

KvGeometry geom() { return KvGeometry{2, 1, 4, 4}; }

std::vector<int32_t> seq(int32_t n, int32_t base = 100) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), base);
  return v;
}

TEST(KvManager, PrefixSharingAcrossSequencesOfOneDomain) {
  KvManager m(geom(), 16);
  auto prompt = seq(10);  // 2 full blocks + 2 tokens
  {
    BlockTable a;
    EXPECT_TRUE(m.match_prefix(7, prompt).empty());
    ASSERT_TRUE(m.reserve(a, 10).is_ok());
    EXPECT_EQ(a.size(), 3);
    m.publish(a, 7, prompt, 10);
    EXPECT_EQ(a.n_published, 2);
    // A second sequence with the same prompt reuses both full blocks while the first still runs.
    BlockTable b;
    auto hit = m.match_prefix(7, prompt);
    ASSERT_EQ(hit.size(), 2u);
    EXPECT_EQ(hit[0], a.ids()[0]);
    EXPECT_EQ(m.adopt_prefix(b, 7, prompt, hit), 8);
    EXPECT_EQ(m.pool().block(a.ids()[0]).ref_count, 2);
    ASSERT_TRUE(m.reserve(b, 10).is_ok());
    EXPECT_NE(b.ids()[2], a.ids()[2]);  // the partial block is private
  }
  EXPECT_EQ(m.pool().num_free(), m.pool().num_usable());  // no leaks
  // Finished sequences leave their blocks cached.
  EXPECT_EQ(m.match_prefix(7, prompt).size(), 2u);
  EXPECT_TRUE(m.pool().check_invariants().is_ok());
}

TEST(KvManager, OtherShareDomainNeverHits) {
  KvManager m(geom(), 16);
  auto prompt = seq(12);
  BlockTable a;
  ASSERT_TRUE(m.reserve(a, 12).is_ok());
  m.publish(a, 1, prompt, 12);
  EXPECT_EQ(m.match_prefix(1, prompt).size(), 2u);  // capped: the last token (slot 11) must be computed
  EXPECT_TRUE(m.match_prefix(2, prompt).empty());
}

TEST(KvManager, MatchStopsAtFirstDifferenceAndLastTokenIsAlwaysComputed) {
  KvManager m(geom(), 16);
  auto p = seq(8);
  BlockTable a;
  ASSERT_TRUE(m.reserve(a, 8).is_ok());
  m.publish(a, 0, p, 8);
  EXPECT_EQ(a.n_published, 2);
  EXPECT_EQ(m.match_prefix(0, p).size(), 1u);  // 8 tokens: at most 7 from cache -> 1 block
  auto q = seq(9);
  EXPECT_EQ(m.match_prefix(0, q).size(), 2u);
  q[5] = 1;
  EXPECT_EQ(m.match_prefix(0, q).size(), 1u);
  q[1] = 1;
  EXPECT_TRUE(m.match_prefix(0, q).empty());
}

TEST(KvManager, ReserveFailsCleanlyWhenPoolIsDry) {
  KvManager m(geom(), 4);
  BlockTable a, b;
  ASSERT_TRUE(m.reserve(a, 12).is_ok());  // 3 blocks
  Status s = m.reserve(b, 8);             // needs 2, 1 free
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_EQ(b.size(), 0);
  EXPECT_EQ(m.pool().num_free(), 1);
  m.release(a);
  EXPECT_TRUE(m.reserve(b, 8).is_ok());
  m.release(b);
  EXPECT_EQ(m.pool().num_free(), 4);
}

TEST(KvManager, BudgetToBlocks) {
  KvGeometry g{30, 3, 64, 16};
  // 2 (K,V) * 30 layers * 16 slots * 3 heads * 64 dims * 4 bytes = 737280 bytes per block.
  EXPECT_EQ(KvManager::blocks_for_budget(g, 72), 72 * 1024 * 1024 / 737280);
}

}  // namespace
}  // namespace kvs::kv
