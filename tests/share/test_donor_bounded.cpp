// Issue 8, item 5: donor bookkeeping stays bounded however many donations come and go. 100,000 synthetic
// donations cycle through a 64-block pool; the store's maps, its insertion-order queue and the hnswlib graphs
// must stay flat (fixed bounds, independent of the donation count), and so must the process RSS. Issue 10: so must
// the fragment index (windows of the donors' valid blocks only).
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <unordered_map>
#include <vector>

#include "kv/block_pool.h"
#include "share/donor_store.h"

namespace kvs::share {
namespace {

constexpr int kDim = 32;
constexpr int32_t kBlockSize = 16;
constexpr int32_t kPoolBlocks = 64;  // usable
constexpr size_t kMaxDonors = 1024;

long rss_kib() {
  long pages_total = 0, pages_resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  const int got = std::fscanf(f, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(f);
  return got == 2 ? pages_resident * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

std::vector<float> unit(std::mt19937& rng) {
  std::normal_distribution<float> n;
  std::vector<float> v(kDim);
  double s = 0;
  for (auto& x : v) { x = n(rng); s += x * x; }
  for (auto& x : v) x /= static_cast<float>(std::sqrt(s));
  return v;
}

// Synthetic traffic: each donation allocates 1-4 blocks (a quarter of them start with the previous donation's
// first block, still cached: a shared prefix), publishes the new ones under unique keys, releases them into the
// LRU and donates the prompt. Evictions are drained right after allocate(), before the donor names any block.
class Traffic {
 public:
  Traffic(kv::BlockPool& pool, DonorStore& store) : pool_(pool), store_(store) {}

  void donate() {
    const int n_blocks = 1 + static_cast<int>(rng_() % 4);
    std::vector<kv::BlockId> blocks;
    std::vector<int32_t> prompt;
    uint64_t domain = 1 + rng_() % 4, parent = 0;
    if (have_prev_ && rng_() % 4 == 0)
      if (auto hit = pool_.lookup(prev_key_, prev_tokens_)) {
        pool_.touch(*hit);
        blocks.push_back(*hit);
        prompt = prev_tokens_;
        domain = prev_key_.domain;
        parent = prev_key_.hash;
      }
    auto got = pool_.allocate(n_blocks - static_cast<int32_t>(blocks.size()));
    ASSERT_TRUE(got.is_ok());
    store_.apply_evictions(pool_.take_evicted());
    for (kv::BlockId id : got.value()) {
      std::vector<int32_t> toks(kBlockSize);
      for (auto& t : toks) t = static_cast<int32_t>(rng_() % 32000);
      const kv::BlockKey key{next_hash_++, domain, parent};
      ASSERT_TRUE(pool_.cache_block(id, key, toks));
      if (blocks.empty()) { prev_key_ = key; prev_tokens_ = toks; have_prev_ = true; }
      parent = key.hash;
      blocks.push_back(id);
      prompt.insert(prompt.end(), toks.begin(), toks.end());
    }
    for (kv::BlockId id : blocks) pool_.release(id);
    auto emb = unit(rng_);
    const uint64_t id = store_.add(domain, prompt, blocks, emb);
    ASSERT_NE(id, 0u);
    live_[id] = {domain, std::move(emb)};
  }

  // Every live donor's valid blocks are cached in its domain; every donor still finds itself (index recall).
  void check_live(int* found, int* asked) {
    std::erase_if(live_, [&](const auto& e) { return store_.get(e.first) == nullptr; });
    ASSERT_EQ(live_.size(), store_.size());
    for (const auto& [id, de] : live_) {
      const Donor* d = store_.get(id);
      for (int32_t i = 0; i < d->n_valid; ++i) {
        const kv::KvBlock& b = pool_.block(d->blocks[i]);
        ASSERT_TRUE(b.cached && b.key.domain == d->domain) << "donor " << id << " block " << i;
      }
      auto r = store_.search(de.first, de.second, 1, -1.0f);
      *found += !r.empty() && r[0].donor_id == id;
      ++*asked;
    }
  }

 private:
  kv::BlockPool& pool_;
  DonorStore& store_;
  std::mt19937 rng_{2024};
  uint64_t next_hash_ = 1;
  bool have_prev_ = false;
  kv::BlockKey prev_key_;
  std::vector<int32_t> prev_tokens_;
  std::unordered_map<uint64_t, std::pair<uint64_t, std::vector<float>>> live_;  // id -> (domain, embedding)
};

void print_stats(int donations, const DonorStoreStats& s, long rss) {
  std::printf("[donor-bounded] donations=%d donors=%zu order_entries=%zu by_block_keys=%zu by_block_entries=%zu "
              "index_namespaces=%zu index_elements=%zu index_capacity=%zu index_deleted=%zu rss_kib=%ld\n",
              donations, s.donors, s.order_entries, s.by_block_keys, s.by_block_entries, s.index_namespaces,
              s.index_elements, s.index_capacity, s.index_deleted, rss);
  std::fflush(stdout);
}

TEST(DonorStoreBounded, HundredThousandDonationsKeepBookkeepingFlat) {
  kv::BlockPool pool(kPoolBlocks + 1, kBlockSize);
  DonorStore store(kDim, kMaxDonors);
  store.enable_fragments(kBlockSize, 16);  // issue 10: the fragment index must stay bounded too
  Traffic traffic(pool, store);
  DonorStoreStats peak;
  long rss_10k = 0;
  int found = 0, asked = 0;
  for (int n = 1; n <= 100000; ++n) {
    ASSERT_NO_FATAL_FAILURE(traffic.donate());
    const auto s = store.bookkeeping_stats();
    // Fixed bounds: a key per cached block at most; entries <= 4 blocks per donor; the graphs hold at most twice
    // their peak live count (4 domains, slots reused); the order queue is compacted.
    ASSERT_LE(s.by_block_keys, static_cast<size_t>(kPoolBlocks));
    ASSERT_LE(s.by_block_entries, 4 * s.donors);
    ASSERT_LE(s.donors, 256u);
    ASSERT_LE(s.order_entries, 2 * s.donors + DonorStore::kOrderSlack);
    ASSERT_LE(s.index_elements, 512u);
    ASSERT_LE(s.index_capacity, 1024u);
    // Fragments: one window per valid block start (16-token windows over 16-token blocks), never more.
    ASSERT_LE(s.fragment_entries, s.by_block_entries);
    ASSERT_LE(s.fragment_keys, s.fragment_entries);
    peak.fragment_entries = std::max(peak.fragment_entries, s.fragment_entries);
    peak.donors = std::max(peak.donors, s.donors);
    peak.by_block_entries = std::max(peak.by_block_entries, s.by_block_entries);
    peak.order_entries = std::max(peak.order_entries, s.order_entries);
    peak.index_capacity = std::max(peak.index_capacity, s.index_capacity);
    if (n % 1000 == 0) {
      ASSERT_TRUE(store.check_invariants().is_ok()) << store.check_invariants().to_string();
      ASSERT_TRUE(pool.check_invariants().is_ok()) << pool.check_invariants().to_string();
      ASSERT_NO_FATAL_FAILURE(traffic.check_live(&found, &asked));
    }
    if (n == 1000 || n == 10000 || n == 100000) print_stats(n, s, rss_kib());
    if (n == 10000) rss_10k = rss_kib();
  }
  std::printf("[donor-bounded] peaks: donors=%zu by_block_entries=%zu order_entries=%zu index_capacity=%zu "
              "fragment_entries=%zu; self-recall %d/%d\n", peak.donors, peak.by_block_entries, peak.order_entries,
              peak.index_capacity, peak.fragment_entries, found, asked);
  EXPECT_GT(peak.fragment_entries, 0u);  // the index was in use
  // Flat memory: 90,000 more donations may not add more than 8 MiB (the old code kept every hnswlib slot,
  // label and stale by_block_/order_ entry: tens of MiB here).
  const long rss_100k = rss_kib();
  if (rss_10k > 0 && rss_100k > 0) {
    EXPECT_LT(rss_100k - rss_10k, 8 * 1024);
  }
  EXPECT_GE(found, asked * 95 / 100);
}

}  // namespace
}  // namespace kvs::share
