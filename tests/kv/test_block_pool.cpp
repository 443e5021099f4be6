#include "kv/block_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace kvs::kv {
namespace {

std::vector<int32_t> toks(int32_t base, int32_t bs) {
  std::vector<int32_t> t(bs);
  for (int32_t i = 0; i < bs; ++i) t[i] = base + i;
  return t;
}

TEST(BlockPool, AllocatesAllButNullBlockAndReturnsToFull) {
  BlockPool pool(9, 16);
  EXPECT_EQ(pool.num_free(), 8);
  auto a = pool.allocate(8);
  ASSERT_TRUE(a.is_ok());
  for (BlockId id : a.value()) EXPECT_NE(id, kNullBlock);
  EXPECT_EQ(pool.num_free(), 0);
  EXPECT_FALSE(pool.allocate(1).is_ok());
  EXPECT_EQ(pool.allocate(1).status().code(), Code::kResourceExhausted);
  for (BlockId id : a.value()) pool.release(id);
  EXPECT_EQ(pool.num_free(), 8);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

TEST(BlockPool, EvictionOrderIsLeastRecentlyFreedFirst) {
  BlockPool pool(5, 4);
  auto a = pool.allocate(4).value();  // ids 1..4
  const BlockKey k1{101, 7, 0}, k2{102, 7, 101};
  ASSERT_TRUE(pool.cache_block(a[0], k1, toks(0, 4)));
  ASSERT_TRUE(pool.cache_block(a[1], k2, toks(4, 4)));
  // Free in the order 2, 0, 3, 1: eviction must follow the same order.
  pool.release(a[2]);
  pool.release(a[0]);
  pool.release(a[3]);
  pool.release(a[1]);
  auto b = pool.allocate(2).value();
  const std::vector<BlockId> evicted = pool.take_evicted();
  EXPECT_EQ(b[0], a[2]);
  EXPECT_EQ(b[1], a[0]);
  ASSERT_EQ(evicted.size(), 1u);  // a[2] was not cached, a[0] was
  EXPECT_EQ(evicted[0], a[0]);
  EXPECT_FALSE(pool.lookup(k1, toks(0, 4)).has_value());
  EXPECT_TRUE(pool.lookup(k2, toks(4, 4)).has_value());
  for (BlockId id : b) pool.release(id);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

TEST(BlockPool, CachedHitLeavesFreeListAndIsNotEvicted) {
  BlockPool pool(3, 4);
  auto a = pool.allocate(1).value();
  const BlockKey k{55, 1, 0};
  ASSERT_TRUE(pool.cache_block(a[0], k, toks(10, 4)));
  pool.release(a[0]);
  EXPECT_EQ(pool.num_free(), 2);
  auto hit = pool.lookup(k, toks(10, 4));
  ASSERT_TRUE(hit.has_value());
  pool.touch(*hit);  // in use again
  EXPECT_EQ(pool.num_free(), 1);
  auto b = pool.allocate(1).value();
  EXPECT_NE(b[0], *hit);  // the in-use cached block is never handed out
  EXPECT_FALSE(pool.allocate(1).is_ok());
  EXPECT_TRUE(pool.lookup(k, toks(10, 4)).has_value());
  pool.release(b[0]);
  pool.release(*hit);
  EXPECT_EQ(pool.num_free(), 2);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

TEST(BlockPool, LookupVerifiesTokensDomainAndParent) {
  BlockPool pool(4, 4);
  auto a = pool.allocate(1).value();
  const BlockKey k{77, 1, 5};
  ASSERT_TRUE(pool.cache_block(a[0], k, toks(0, 4)));
  EXPECT_TRUE(pool.lookup(k, toks(0, 4)).has_value());
  EXPECT_FALSE(pool.lookup(BlockKey{77, 2, 5}, toks(0, 4)).has_value());  // other share domain, same hash
  EXPECT_FALSE(pool.lookup(BlockKey{77, 1, 6}, toks(0, 4)).has_value());  // other parent
  EXPECT_FALSE(pool.lookup(k, toks(1, 4)).has_value());                   // hash collision, other tokens
  // A second block under the same key is not published.
  auto b = pool.allocate(1).value();
  EXPECT_FALSE(pool.cache_block(b[0], k, toks(0, 4)));
  pool.release(a[0]);
  pool.release(b[0]);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

TEST(BlockRef, RaiiReleasesAndCopiesShare) {
  BlockPool pool(4, 4);
  {
    BlockRef r = BlockRef::adopt(&pool, pool.allocate(1).value()[0]);
    EXPECT_EQ(pool.num_free(), 2);
    {
      BlockRef c = r;  // shares
      EXPECT_EQ(pool.block(r.id()).ref_count, 2);
      std::vector<BlockRef> v;
      v.push_back(std::move(c));
      EXPECT_EQ(pool.block(r.id()).ref_count, 2);
    }
    EXPECT_EQ(pool.block(r.id()).ref_count, 1);
  }
  EXPECT_EQ(pool.num_free(), 3);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

TEST(BlockPool, RandomOperationsKeepInvariantsAndNoLeaks) {
  BlockPool pool(33, 4);
  std::mt19937 rng(42);
  std::vector<BlockRef> held;
  uint64_t next_hash = 1;
  for (int step = 0; step < 5000; ++step) {
    int op = rng() % 4;
    if (op == 0) {
      auto r = pool.allocate(1 + rng() % 3);
      if (r.is_ok())
        for (BlockId id : r.value()) held.push_back(BlockRef::adopt(&pool, id));
    } else if (op == 1 && !held.empty()) {
      held.erase(held.begin() + rng() % held.size());
    } else if (op == 2 && !held.empty()) {
      BlockId id = held[rng() % held.size()].id();
      if (!pool.block(id).cached) pool.cache_block(id, BlockKey{next_hash++, 0, 0}, toks(step, 4));
    } else if (op == 3 && !held.empty()) {
      held.push_back(held[rng() % held.size()]);
    }
    if (step % 97 == 0) ASSERT_TRUE(pool.check_invariants().is_ok()) << pool.check_invariants().to_string();
  }
  held.clear();
  EXPECT_EQ(pool.num_free(), pool.num_usable());
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

// The eviction queue holds exactly the cached blocks allocate() evicted, in eviction order, and hands them out
// once; uncached blocks are not queued. A listener, while one is set, still sees the same evictions.
TEST(BlockPool, TakeEvictedReturnsEvictedCachedBlocksInOrderOnce) {
  BlockPool pool(7, 4);
  auto a = pool.allocate(6).value();
  ASSERT_TRUE(pool.cache_block(a[0], BlockKey{201, 1, 0}, toks(0, 4)));
  ASSERT_TRUE(pool.cache_block(a[1], BlockKey{202, 1, 201}, toks(4, 4)));
  ASSERT_TRUE(pool.cache_block(a[3], BlockKey{203, 1, 0}, toks(8, 4)));
  for (int i : {3, 2, 0, 4, 1, 5}) pool.release(a[i]);
  EXPECT_TRUE(pool.take_evicted().empty());  // releasing evicts nothing
  auto b = pool.allocate(4).value();  // a[3] (cached), a[2], a[0] (cached), a[4]
  ASSERT_EQ(b, (std::vector<BlockId>{a[3], a[2], a[0], a[4]}));
  EXPECT_EQ(pool.num_evicted_pending(), 2u);
  EXPECT_TRUE(pool.check_invariants().is_ok()) << pool.check_invariants().to_string();
  EXPECT_EQ(pool.take_evicted(), (std::vector<BlockId>{a[3], a[0]}));
  EXPECT_TRUE(pool.take_evicted().empty());  // once
  EXPECT_TRUE(pool.lookup(BlockKey{202, 1, 201}, toks(4, 4)).has_value());  // a[1] was not reached
  for (BlockId id : b) pool.release(id);
  EXPECT_TRUE(pool.take_evicted().empty());
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

// drop_cache() evicts every cached free block through the same queue (free-list order) and leaves in-use
// cached blocks alone.
TEST(BlockPool, DropCacheQueuesEvictions) {
  BlockPool pool(6, 4);
  auto a = pool.allocate(4).value();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(pool.cache_block(a[i], BlockKey{300u + i, 0, 0}, toks(4 * i, 4)));
  pool.release(a[2]);
  pool.release(a[0]);
  pool.release(a[3]);  // a[1] stays in use
  pool.drop_cache();
  EXPECT_EQ(pool.take_evicted(), (std::vector<BlockId>{a[2], a[0], a[3]}));
  EXPECT_EQ(pool.num_cached(), 1);
  EXPECT_TRUE(pool.lookup(BlockKey{301, 0, 0}, toks(4, 4)).has_value());
  pool.drop_cache();
  EXPECT_TRUE(pool.take_evicted().empty());  // nothing cached and free is left
  pool.release(a[1]);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

// Nobody drains: the queue still never holds more than num_usable() ids, because a block evicted again before
// the drain (recached under another key in between) is queued once.
TEST(BlockPool, EvictionQueueIsBoundedWithoutDrain) {
  BlockPool pool(9, 4);
  uint64_t next_hash = 1;
  for (int round = 0; round < 2000; ++round) {
    auto a = pool.allocate(3).value();
    for (BlockId id : a) ASSERT_TRUE(pool.cache_block(id, BlockKey{next_hash++, 0, 0}, toks(round, 4)));
    for (BlockId id : a) pool.release(id);
    ASSERT_LE(pool.num_evicted_pending(), static_cast<size_t>(pool.num_usable()));
  }
  EXPECT_TRUE(pool.check_invariants().is_ok()) << pool.check_invariants().to_string();
  auto ev = pool.take_evicted();
  EXPECT_EQ(ev.size(), static_cast<size_t>(pool.num_usable()));  // every block was evicted at least once
  std::sort(ev.begin(), ev.end());
  EXPECT_EQ(std::adjacent_find(ev.begin(), ev.end()), ev.end());
  EXPECT_EQ(pool.num_evicted_pending(), 0u);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

}  // namespace
}  // namespace kvs::kv
