// DonorStore: prompts whose KV can be lent to later, similar prompts of the same share domain.
//
// A donor is an exactly computed prompt (never one built from another donor: approximations do not compound)
// whose leading full blocks were published in the prefix cache, optionally followed by its tail block (the
// prompt's last, partial block, cached under a tail key by KvManager::publish_tail). The store does not pin
// those blocks: the pool's LRU decides. When a block is evicted (BlockPool eviction listener ->
// on_block_evicted), every donor holding it is truncated to the blocks before it; a donor with no block left
// leaves the store and the ANN index.
//
// Invariants: for every donor, blocks[0, n_valid) are cached in the pool with the donor's chain keys, so
// tokens[0, usable_tokens) have their K/V at positions 0.. in those blocks; blocks.size() * block_size <
// tokens.size() + block_size (at most one partial block, the last); index membership == store membership; at
// most max_donors donors (oldest dropped first).
#pragma once
#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "kv/block_pool.h"
#include "share/donor_index.h"

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

class DonorStore {
 public:
  DonorStore(int dim, size_t max_donors) : index_(dim), max_donors_(max_donors) {}

  // Adds a donor (its blocks must be cached: full blocks, then at most the tail). Returns its id, or 0 when it
  // has no block.
  uint64_t add(uint64_t domain, std::span<const int32_t> prompt, std::span<const kv::BlockId> blocks,
               std::span<const float> embedding);
  const Donor* get(uint64_t id) const;
  // Candidates of `domain` by embedding similarity (best first).
  std::vector<DonorCandidate> search(uint64_t domain, std::span<const float> embedding, int k, float min_sim) const {
    return index_.search(domain, embedding, k, min_sim);
  }
  void on_block_evicted(kv::BlockId block);
  size_t size() const { return donors_.size(); }

 private:
  void remove(uint64_t id);

  DonorIndex index_;
  size_t max_donors_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Donor> donors_;
  std::deque<uint64_t> order_;  // insertion order (may hold removed ids; skipped lazily)
  std::unordered_map<kv::BlockId, std::vector<std::pair<uint64_t, int32_t>>> by_block_;  // block -> (donor, index)
};

}  // namespace kvs::share
