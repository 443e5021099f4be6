// DonorStore: prompts whose KV can be lent to later, similar prompts of the same share domain.
//
// A donor is an exactly computed prompt (never one built from another donor: approximations do not compound)
// whose leading full blocks were published in the prefix cache, optionally followed by its tail block (the
// prompt's last, partial block, cached under a tail key by KvManager::publish_tail). The store does not pin
// those blocks: the pool's LRU decides. When a block is evicted (on_block_evicted / apply_evictions), every
// donor holding it is truncated to the blocks before it; a donor with no block left leaves the store and the
// ANN index.
//
// Eviction protocol. The pool queues the ids of the cached blocks it evicts (BlockPool::take_evicted()); the
// owner applies them here at a safe point:
//     store.apply_evictions(pool.take_evicted());
// REQUIRES (of the owner): drain before every search() / get() whose result is trusted, before every add(), and
// after every allocate() that could evict. Between an eviction and the drain a donor may still name a block
// that was already handed to another sequence (and rewritten, or cached under another key): lending it would
// read someone else's K/V. add() also needs the queue empty: a pending eviction of a block id that a new donor
// names (the block was evicted, reallocated and republished) would wrongly truncate the new donor.
//
// Invariants (check_invariants()): for every donor, blocks[0, n_valid) are cached in the pool with the donor's
// chain keys (once evictions are drained), so tokens[0, usable_tokens) have their K/V at positions 0.. in those
// blocks; blocks.size() * block_size < tokens.size() + block_size (at most one partial block, the last);
// index membership == store membership; at most max_donors donors (oldest dropped first; max_donors == 0
// keeps none).
// Bounded bookkeeping, however many donors come and go: by_block_ holds exactly one entry (donor, i) per
// i < n_valid of each donor (removal and truncation unlink the rest) and no empty key, so it is bounded by
// sum(n_valid) <= donors * blocks per donor; order_ holds every donor id plus stale ids of removed donors,
// compacted once stale ids outnumber live ones (order_.size() <= 2 * donors + kOrderSlack); the index reuses
// deleted slots (DonorIndex).
// Fragments (enable_fragments): the FragmentIndex holds exactly the windows of every live donor's usable tokens
// (add indexes them, truncation and removal unlink what they cut), so it is bounded like by_block_.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "kv/block_pool.h"
#include "share/donor_index.h"
#include "share/fragment_index.h"

namespace kvs::share {

struct Donor {
  uint64_t id = 0;
  uint64_t domain = 0;
  std::vector<int32_t> tokens;        // the donor's prompt
  std::vector<kv::BlockId> blocks;    // its published full blocks, in order, then possibly its tail block
  int32_t n_valid = 0;                // leading blocks still cached
  int64_t usable_tokens(int32_t block_size) const {
    return std::min<int64_t>(static_cast<int64_t>(n_valid) * block_size, static_cast<int64_t>(tokens.size()));
  }
};

// Sizes of the store's bookkeeping, for tests and metrics.
struct DonorStoreStats {
  size_t donors = 0;            // live donors
  size_t order_entries = 0;     // insertion-order queue: live ids + stale ids not yet compacted
  size_t by_block_keys = 0;     // distinct blocks named by some live donor
  size_t by_block_entries = 0;  // (donor, block index) pairs == sum of n_valid
  size_t index_namespaces = 0;  // share domains with an ANN graph
  size_t index_elements = 0;    // hnswlib slots in use (live + deleted)
  size_t index_capacity = 0;    // hnswlib slots allocated
  size_t index_deleted = 0;     // hnswlib slots marked deleted, free for reuse
  size_t fragment_keys = 0;     // fragment index: distinct window hashes (0 without fragments)
  size_t fragment_entries = 0;  // fragment index: (donor, block start) windows
};

class DonorStore {
 public:
  static constexpr size_t kOrderSlack = 64;  // stale order_ ids tolerated beyond the live count

  DonorStore(int dim, size_t max_donors) : index_(dim), max_donors_(max_donors) {}

  // Adds a donor (its blocks must be cached: full blocks, then at most the tail; no block twice). Returns its
  // id, or 0 when it has no block or max_donors is 0.
  // REQUIRES: the pool's eviction queue is drained into this store (see above).
  uint64_t add(uint64_t domain, std::span<const int32_t> prompt, std::span<const kv::BlockId> blocks,
               std::span<const float> embedding);
  // REQUIRES: evictions drained, or the donor may name blocks that are no longer its own.
  const Donor* get(uint64_t id) const;
  // Candidates of `domain` by embedding similarity (best first). REQUIRES: evictions drained.
  std::vector<DonorCandidate> search(uint64_t domain, std::span<const float> embedding, int k, float min_sim) const {
    return index_.search(domain, embedding, k, min_sim);
  }
  // Keeps a FragmentIndex of the donors' block-aligned `window`-token windows from now on (find_fragments).
  // REQUIRES: no donor yet; block_size is the pool's; window >= 1.
  void enable_fragments(int32_t block_size, int32_t window);
  // Null unless enable_fragments() was called. Its hits name live donors (evictions drained); compare tokens.
  const FragmentIndex* fragments() const { return fragments_.get(); }
  // Truncates every donor holding `block` to the blocks before it.
  void on_block_evicted(kv::BlockId block);
  // on_block_evicted for each id, in order: `store.apply_evictions(pool.take_evicted())`.
  void apply_evictions(std::span<const kv::BlockId> blocks);
  size_t size() const { return donors_.size(); }
  // Retires a donor (e.g. one whose prompt a newer, longer donor contains). Unknown ids are ignored.
  void retire(uint64_t id) { if (donors_.count(id)) remove(id); }

  DonorStoreStats bookkeeping_stats() const;
  // Verifies the store's own invariants (not the pool's: see above) and the index's.
  Status check_invariants() const;

 private:
  void remove(uint64_t id);
  // Drops the by_block_ entries of d.blocks[from, n_valid).
  void unlink_blocks(const Donor& d, int32_t from);
  void maybe_compact_order();

  DonorIndex index_;
  size_t max_donors_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Donor> donors_;
  std::deque<uint64_t> order_;  // insertion order (may hold removed ids: skipped when trimming, compacted)
  std::unordered_map<kv::BlockId, std::vector<std::pair<uint64_t, int32_t>>> by_block_;  // block -> (donor, index)
  std::unique_ptr<FragmentIndex> fragments_;  // null: fragments off
};

}  // namespace kvs::share
