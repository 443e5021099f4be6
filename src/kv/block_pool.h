// BlockPool: fixed-size KV blocks with reference counts, an O(1) LRU list of free blocks, a hash map of
// cached full blocks (exact prefix reuse), and a null block. Modelled on vLLM v1's BlockPool.
//
// Invariants (checked by check_invariants() in tests and debug builds):
//  - block 0 is the null block: never allocated, never freed, never cached.
//  - a block is on the free list  <=>  ref_count == 0 (and it is not the null block).
//  - free list order = eviction order: allocate() takes the head (least recently freed); free() appends.
//  - a block with a hash is in the cache map under that hash; allocate() of a cached free block evicts it
//    (drops the hash, queues its id for take_evicted()) before
//    handing it out; drop_cache() evicts the same way.
//  - eviction queue: every queued id is a real block (not the null block) and appears at most once, so the
//    queue never holds more than num_usable() ids however long nobody drains it. It holds exactly the blocks
//    evicted since the last take_evicted(), in order of their first eviction since then.
//  - a block with ref_count > 0 is never evicted; a cached block (has a hash) is never written: writers own
//    blocks they allocated and have not published.
// Thread-compatibility: not thread-safe; the engine thread owns the pool.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace kvs::kv {

using BlockId = int32_t;
constexpr BlockId kNullBlock = 0;

struct BlockKey {
  uint64_t hash = 0;        // hash(parent hash, token ids, share domain)
  uint64_t domain = 0;      // share domain (tenant salt), stored to verify hits exactly
  uint64_t parent = 0;      // parent block's hash (0 for the first block)
};

struct KvBlock {
  BlockId id = 0;
  int32_t ref_count = 0;
  bool cached = false;  // has a key and is in the cache map
  BlockKey key;
  BlockId prev = -1, next = -1;  // free list links (-1 = none)
};

class BlockPool {
 public:
  // n_blocks includes the null block; block_size tokens per block.
  BlockPool(int32_t n_blocks, int32_t block_size);

  int32_t n_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t block_size() const { return block_size_; }
  int32_t num_free() const { return n_free_; }              // free blocks, cached or not
  int32_t num_usable() const { return n_blocks() - 1; }      // all but the null block
  int32_t num_cached() const { return static_cast<int32_t>(cache_.size()); }

  // Takes `n` blocks off the free list (evicting cached ones), ref_count = 1 each. Fails when fewer are free.
  Result<std::vector<BlockId>> allocate(int32_t n);
  // ref_count += 1; a free block (cached hit) leaves the free list.
  void touch(BlockId id);
  // ref_count -= 1; at 0 the block goes to the tail of the free list (stays cached if it has a key).
  void release(BlockId id);

  // Publishes a full block under `key` with its token ids (for exact verification on lookup). If another block
  // already holds that key, nothing changes and false is returned. REQUIRES: ref_count > 0, not cached.
  bool cache_block(BlockId id, const BlockKey& key, std::span<const int32_t> tokens);
  // The cached block for (key, tokens), verified token by token; nullopt on a miss.
  std::optional<BlockId> lookup(const BlockKey& key, std::span<const int32_t> tokens) const;

  const KvBlock& block(BlockId id) const { return blocks_[id]; }
  std::span<const int32_t> block_tokens(BlockId id) const {
    return std::span(tokens_).subspan(static_cast<size_t>(id) * block_size_, block_size_);
  }

  // Returns the ids of the cached blocks evicted (by allocate() or drop_cache()) since the last call, oldest
  // first, and empties the queue. Modelled on vLLM v1's queued KV events: the owner drains at a safe point
  // instead of reacting inside allocate().
  // REQUIRES (of the owner): drain before trusting anything that names cached blocks (e.g. a DonorStore:
  // `store.apply_evictions(pool.take_evicted())`) -- between an eviction and the drain a block id may already
  // belong to another sequence, or be cached under another key.
  std::vector<BlockId> take_evicted();
  size_t num_evicted_pending() const { return evicted_.size(); }


  // Verifies the invariants above; returns a message naming the first violation.
  Status check_invariants() const;

  // Evicts every cached free block (tests, admin "reset cache").
  void drop_cache();

 private:
  void list_remove(BlockId id);
  void list_push_back(BlockId id);
  void uncache(BlockId id);
  Status check_eviction_queue() const;

  int32_t block_size_;
  std::vector<KvBlock> blocks_;
  std::vector<int32_t> tokens_;  // (n_blocks, block_size) token ids of cached blocks
  BlockId head_ = -1, tail_ = -1;
  int32_t n_free_ = 0;
  std::unordered_map<uint64_t, BlockId> cache_;  // key.hash -> block
  std::vector<BlockId> evicted_;    // ids evicted since the last take_evicted(), each at most once
  std::vector<char> evict_queued_;  // (n_blocks) 1 <=> the block's id is in evicted_
};

// RAII reference to a pool block: copying touches, destruction releases.
class BlockRef {
 public:
  BlockRef() = default;
  // Adopts an existing reference (does not touch).
  static BlockRef adopt(BlockPool* pool, BlockId id) { return BlockRef(pool, id); }
  // Takes a new reference (touches).
  static BlockRef share(BlockPool* pool, BlockId id) {
    pool->touch(id);
    return BlockRef(pool, id);
  }
  BlockRef(const BlockRef& o) : pool_(o.pool_), id_(o.id_) { if (pool_) pool_->touch(id_); }
  BlockRef(BlockRef&& o) noexcept : pool_(o.pool_), id_(o.id_) { o.pool_ = nullptr; }
  BlockRef& operator=(BlockRef o) noexcept {
    std::swap(pool_, o.pool_);
    std::swap(id_, o.id_);
    return *this;
  }
  ~BlockRef() { reset(); }
  void reset() {
    if (pool_) pool_->release(id_);
    pool_ = nullptr;
  }
  BlockId id() const { return id_; }
  bool valid() const { return pool_ != nullptr; }

 private:
  BlockRef(BlockPool* pool, BlockId id) : pool_(pool), id_(id) {}
  BlockPool* pool_ = nullptr;
  BlockId id_ = kNullBlock;
};

}  // namespace kvs::kv
