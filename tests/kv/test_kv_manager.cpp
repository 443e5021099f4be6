#include "kv/kv_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

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

TEST(KvManager, PublishTailCopiesThePartialBlockUnderAKeyPrefixLookupsNeverMatch) {
  KvManager m(geom(), 8);  // block_size 4
  auto prompt = seq(10);   // 2 full blocks + a tail of 2 tokens
  KvStorage& st = m.storage();
  BlockId tail = kNullBlock;
  {
    BlockTable a;
    ASSERT_TRUE(m.reserve(a, 12).is_ok());
    // Distinct values in every slot of the partial block (layer, head, slot, dim); integers below 2048 are exact
    // in the default f16 storage.
    ASSERT_EQ(st.dtype(), DType::kF16);
    std::vector<float> kr(st.block_size() * st.head_dim()), vr(kr.size());  // (block_size, head_dim)
    for (int64_t l = 0; l < st.n_layer(); ++l) {
      for (int64_t i = 0; i < st.block_size() * st.head_dim(); ++i) {
        kr[i] = static_cast<float>(1000 * l + i);
        vr[i] = static_cast<float>(-1000 * l - i);
      }
      st.store_k(l, a.ids()[2], 0, 0, st.block_size(), kr.data());
      st.store_v(l, a.ids()[2], 0, 0, st.block_size(), vr.data());
    }
    m.publish(a, 3, prompt, 10);
    auto t = m.publish_tail(a, 3, prompt);
    ASSERT_TRUE(t.has_value());
    tail = *t;
    EXPECT_NE(tail, a.ids()[2]);  // a copy: the sequence keeps writing its own block
    EXPECT_TRUE(m.pool().block(tail).cached);
    EXPECT_EQ(m.pool().block(tail).ref_count, 0);  // evictable at once
    for (int64_t l = 0; l < st.n_layer(); ++l) {
      st.load_k(l, tail, 0, 0, 2, kr.data());  // the 2 prompt slots (the only ones a donor lends)
      st.load_v(l, tail, 0, 0, 2, vr.data());
      for (int64_t i = 0; i < 2 * st.head_dim(); ++i) {
        EXPECT_EQ(kr[i], static_cast<float>(1000 * l + i));
        EXPECT_EQ(vr[i], static_cast<float>(-1000 * l - i));
      }
    }
    // The same prompt again finds the cached tail instead of a new copy; another domain gets its own.
    EXPECT_EQ(m.publish_tail(a, 3, prompt), tail);
    auto other = m.publish_tail(a, 4, prompt);
    ASSERT_TRUE(other.has_value());
    EXPECT_NE(*other, tail);
    // A prompt without a partial block has no tail.
    EXPECT_FALSE(m.publish_tail(a, 3, seq(8)).has_value());
  }
  EXPECT_EQ(m.pool().num_free(), m.pool().num_usable());
  // Prefix lookups never return a tail block, whatever the prompt continues with.
  for (int32_t next : {0, 100, 108, 110}) {
    auto longer = seq(12);
    longer[10] = next;
    for (BlockId id : m.match_prefix(3, longer)) EXPECT_NE(id, tail);
    EXPECT_EQ(m.match_prefix(3, longer).size(), 2u);
  }
  // It is evicted like any cached block (LRU), after which the key is free again.
  m.pool().drop_cache();
  EXPECT_FALSE(m.pool().block(tail).cached);
  EXPECT_TRUE(m.pool().check_invariants().is_ok());
}

TEST(KvManager, BudgetToBlocks) {
  KvGeometry g{30, 3, 64, 16, DType::kF32};
  // 2 (K,V) * 30 layers * 16 slots * 3 heads * 64 dims * 4 bytes = 737280 bytes per block.
  EXPECT_EQ(KvManager::blocks_for_budget(g, 72), 72 * 1024 * 1024 / 737280);
  // f16 (the default): 2 bytes per element, twice the blocks in the same budget.
  KvGeometry h{30, 3, 64, 16};
  EXPECT_EQ(h.dtype, DType::kF16);
  EXPECT_EQ(KvManager::blocks_for_budget(h, 72), 72 * 1024 * 1024 / 368640);
  EXPECT_EQ(KvManager::blocks_for_budget(h, 72), 2 * KvManager::blocks_for_budget(g, 72));
  KvManager m(h, 5);
  EXPECT_EQ(m.storage().block_payload_bytes(), 368640);
}

}  // namespace
}  // namespace kvs::kv
