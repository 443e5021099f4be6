#include "share/donor_store.h"

#include <gtest/gtest.h>

#include <numeric>

#include "kv/kv_manager.h"

namespace kvs::share {
namespace {

std::vector<float> axis(int dim, int i) {
  std::vector<float> v(dim, 0.0f);
  v[i] = 1.0f;
  return v;
}

// A donor with 2 full blocks and a tail lends all 10 prompt tokens; evicting blocks truncates it from the evicted
// block on, and it leaves the store (and the index) with its first block.
TEST(DonorStore, TailBlockLendsTheWholePromptAndEvictionTruncates) {
  kv::KvManager m(kv::KvGeometry{1, 1, 4, 4}, 8);
  DonorStore store(4, 16);
  std::vector<int32_t> prompt(10);
  std::iota(prompt.begin(), prompt.end(), 50);
  std::vector<kv::BlockId> blocks;
  {
    kv::BlockTable t;
    ASSERT_TRUE(m.reserve(t, 10).is_ok());
    m.publish(t, 1, prompt, 10);
    blocks.assign(t.ids().begin(), t.ids().begin() + 2);
    auto tail = m.publish_tail(t, 1, prompt);
    ASSERT_TRUE(tail.has_value());
    blocks.push_back(*tail);
  }
  const uint64_t id = store.add(1, prompt, blocks, axis(4, 0));
  ASSERT_NE(id, 0u);
  EXPECT_EQ(store.get(id)->usable_tokens(4), 10);
  EXPECT_EQ(store.search(1, axis(4, 0), 4, 0.5f).size(), 1u);
  EXPECT_TRUE(store.search(2, axis(4, 0), 4, 0.5f).empty());  // another share domain never sees it

  // Allocate one block at a time: the pool evicts cached blocks in LRU order, and the donor only ever shrinks
  // (to a whole number of blocks once its tail or a full block is gone) until it leaves the store.
  int64_t last = 10;
  std::vector<kv::BlockRef> held;
  while (store.get(id)) {
    auto got = m.pool().allocate(1);
    ASSERT_TRUE(got.is_ok());
    held.push_back(kv::BlockRef::adopt(&m.pool(), got.value()[0]));
    store.apply_evictions(m.pool().take_evicted());  // the safe point after an allocation that may evict
    if (const Donor* d = store.get(id)) {
      EXPECT_LE(d->usable_tokens(4), last);
      EXPECT_TRUE(d->usable_tokens(4) % 4 == 0 || d->usable_tokens(4) == 10);
      last = d->usable_tokens(4);
    }
  }
  EXPECT_TRUE(store.search(1, axis(4, 0), 4, 0.5f).empty());
  EXPECT_EQ(store.size(), 0u);
  held.clear();
  EXPECT_EQ(m.pool().num_free(), m.pool().num_usable());
  EXPECT_TRUE(m.pool().check_invariants().is_ok());
}

std::vector<int32_t> prompt_of(int32_t n) {
  std::vector<int32_t> p(n);
  std::iota(p.begin(), p.end(), 1);
  return p;
}

// Bookkeeping only (no pool): evictions are reported by block id. Truncating a donor unlinks its later blocks
// from by_block_; removing it unlinks the rest; a block two donors share truncates both.
TEST(DonorStore, RemovalAndTruncationCleanBlockBookkeeping) {
  DonorStore store(4, 16);
  const std::vector<kv::BlockId> a_blocks{1, 2, 3}, b_blocks{1, 4};  // b shares a's first block (common prefix)
  const uint64_t a = store.add(1, prompt_of(12), a_blocks, axis(4, 0));
  const uint64_t b = store.add(1, prompt_of(8), b_blocks, axis(4, 1));
  auto st = store.bookkeeping_stats();
  EXPECT_EQ(st.donors, 2u);
  EXPECT_EQ(st.by_block_keys, 4u);     // blocks 1, 2, 3, 4
  EXPECT_EQ(st.by_block_entries, 5u);  // a: 3, b: 2
  EXPECT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();

  store.on_block_evicted(2);  // a keeps block 1 only; block 3 no longer names a donor
  ASSERT_NE(store.get(a), nullptr);
  EXPECT_EQ(store.get(a)->n_valid, 1);
  st = store.bookkeeping_stats();
  EXPECT_EQ(st.by_block_keys, 2u);     // blocks 1, 4
  EXPECT_EQ(st.by_block_entries, 3u);  // a: 1, b: 2
  EXPECT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();
  store.on_block_evicted(3);  // stale for a: nothing changes
  EXPECT_EQ(store.get(a)->n_valid, 1);

  const std::vector<kv::BlockId> shared{1};
  store.apply_evictions(shared);  // both lose their first block: both leave, with every entry
  EXPECT_EQ(store.get(a), nullptr);
  EXPECT_EQ(store.get(b), nullptr);
  st = store.bookkeeping_stats();
  EXPECT_EQ(st.donors, 0u);
  EXPECT_EQ(st.by_block_keys, 0u);
  EXPECT_EQ(st.by_block_entries, 0u);
  EXPECT_EQ(st.index_namespaces, 0u);  // the domain's graph goes with its last donor
  EXPECT_TRUE(store.search(1, axis(4, 0), 4, -1.0f).empty());
  EXPECT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();
}

// Donors removed by eviction (not by the max_donors trim) leave stale ids in the insertion-order queue; it is
// compacted, so it stays within 2 * donors + kOrderSlack.
TEST(DonorStore, EvictedDonorsDoNotGrowTheOrderQueue) {
  DonorStore store(4, 1000);
  const uint64_t keeper = store.add(1, prompt_of(4), std::vector<kv::BlockId>{1}, axis(4, 0));
  for (int i = 0; i < 5000; ++i) {
    const std::vector<kv::BlockId> blocks{2 + i % 7};
    ASSERT_NE(store.add(1, prompt_of(4), blocks, axis(4, 1 + i % 3)), 0u);
    store.apply_evictions(blocks);
    const auto st = store.bookkeeping_stats();
    ASSERT_LE(st.order_entries, 2 * st.donors + DonorStore::kOrderSlack);
    ASSERT_LE(st.index_capacity, DonorIndex::kInitialCapacity);  // slots are reused
  }
  EXPECT_NE(store.get(keeper), nullptr);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();
}

// max_donors: the oldest donors leave first, with their block entries and index slots; 0 keeps none.
TEST(DonorStore, MaxDonorsCapDropsOldestFirst) {
  DonorStore store(4, 3);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(store.add(1, prompt_of(8), std::vector<kv::BlockId>{2 * i + 1, 2 * i + 2}, axis(4, i % 4)));
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.get(ids[0]), nullptr);
  EXPECT_EQ(store.get(ids[1]), nullptr);
  for (int i = 2; i < 5; ++i) EXPECT_NE(store.get(ids[i]), nullptr);
  for (const auto& c : store.search(1, axis(4, 0), 8, -1.0f)) EXPECT_GE(c.donor_id, ids[2]);
  auto st = store.bookkeeping_stats();
  EXPECT_EQ(st.by_block_entries, 6u);
  EXPECT_EQ(st.index_elements - st.index_deleted, 3u);
  store.on_block_evicted(1);  // the dropped donor's block: no effect
  EXPECT_EQ(store.size(), 3u);
  EXPECT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();

  DonorStore none(4, 0);
  EXPECT_EQ(none.add(1, prompt_of(4), std::vector<kv::BlockId>{1}, axis(4, 0)), 0u);
  EXPECT_EQ(none.size(), 0u);
}

// The queue protocol end to end: allocate, drain into the store, then trust get()/search().
TEST(DonorStore, DrainedEvictionQueueTruncatesLikeTheListener) {
  kv::BlockPool pool(5, 4);  // 4 usable blocks
  DonorStore store(4, 16);
  auto a = pool.allocate(3).value();
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(pool.cache_block(a[i], kv::BlockKey{900u + i, 1, i ? 899u + i : 0u}, prompt_of(4)));
  for (kv::BlockId b : a) pool.release(b);
  ASSERT_TRUE(pool.take_evicted().empty());
  const uint64_t id = store.add(1, prompt_of(12), a, axis(4, 2));
  auto got = pool.allocate(2).value();  // the uncached 4th block, then a[0]
  store.apply_evictions(pool.take_evicted());
  EXPECT_EQ(store.get(id), nullptr);  // lost its first block
  EXPECT_EQ(store.bookkeeping_stats().by_block_entries, 0u);
  EXPECT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();
  for (kv::BlockId b : got) pool.release(b);
}

}  // namespace
}  // namespace kvs::share
