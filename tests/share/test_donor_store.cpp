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
  m.pool().set_eviction_listener([&](kv::BlockId b) { store.on_block_evicted(b); });
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

}  // namespace
}  // namespace kvs::share
