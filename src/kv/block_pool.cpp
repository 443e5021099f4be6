#include "kv/block_pool.h"

#include <algorithm>
#include <string>
#include <utility>

namespace kvs::kv {

BlockPool::BlockPool(int32_t n_blocks, int32_t block_size) : block_size_(block_size) {
  KVS_CHECK(n_blocks >= 2 && block_size > 0);
  blocks_.resize(n_blocks);
  tokens_.assign(static_cast<size_t>(n_blocks) * block_size, -1);
  evict_queued_.assign(n_blocks, 0);
  for (BlockId i = 0; i < n_blocks; ++i) blocks_[i].id = i;
  for (BlockId i = 1; i < n_blocks; ++i) list_push_back(i);
}

void BlockPool::list_remove(BlockId id) {
  KvBlock& b = blocks_[id];
  if (b.prev >= 0) blocks_[b.prev].next = b.next; else head_ = b.next;
  if (b.next >= 0) blocks_[b.next].prev = b.prev; else tail_ = b.prev;
  b.prev = b.next = -1;
  --n_free_;
}

void BlockPool::list_push_back(BlockId id) {
  KvBlock& b = blocks_[id];
  b.prev = tail_;
  b.next = -1;
  if (tail_ >= 0) blocks_[tail_].next = id; else head_ = id;
  tail_ = id;
  ++n_free_;
}

void BlockPool::uncache(BlockId id) {
  KvBlock& b = blocks_[id];
  if (!b.cached) return;
  if (!evict_queued_[id]) {
    evict_queued_[id] = 1;
    evicted_.push_back(id);
  }
  cache_.erase(b.key.hash);
  b.cached = false;
  b.key = BlockKey{};
}

Result<std::vector<BlockId>> BlockPool::allocate(int32_t n) {
  if (n < 0) return invalid_argument("negative block count");
  if (n > n_free_)
    return resource_exhausted("KV pool exhausted: need " + std::to_string(n) + " blocks, " + std::to_string(n_free_) + " free");
  std::vector<BlockId> out;
  out.reserve(n);
  for (int32_t i = 0; i < n; ++i) {
    BlockId id = head_;
    list_remove(id);
    uncache(id);
    blocks_[id].ref_count = 1;
    out.push_back(id);
  }
  return out;
}

void BlockPool::touch(BlockId id) {
  KVS_CHECK(id > 0 && id < n_blocks());
  KvBlock& b = blocks_[id];
  if (b.ref_count == 0) list_remove(id);
  ++b.ref_count;
}

void BlockPool::release(BlockId id) {
  KVS_CHECK(id > 0 && id < n_blocks());
  KvBlock& b = blocks_[id];
  KVS_CHECK_MSG(b.ref_count > 0, "release of a free block");
  if (--b.ref_count == 0) list_push_back(id);
}

bool BlockPool::cache_block(BlockId id, const BlockKey& key, std::span<const int32_t> tokens) {
  KVS_CHECK(id > 0 && id < n_blocks());
  KVS_CHECK(static_cast<int32_t>(tokens.size()) == block_size_);
  KvBlock& b = blocks_[id];
  KVS_CHECK(b.ref_count > 0 && !b.cached);
  if (cache_.count(key.hash)) return false;
  b.cached = true;
  b.key = key;
  std::copy(tokens.begin(), tokens.end(), tokens_.begin() + static_cast<size_t>(id) * block_size_);
  cache_.emplace(key.hash, id);
  return true;
}

std::optional<BlockId> BlockPool::lookup(const BlockKey& key, std::span<const int32_t> tokens) const {
  auto it = cache_.find(key.hash);
  if (it == cache_.end()) return std::nullopt;
  const KvBlock& b = blocks_[it->second];
  if (b.key.domain != key.domain || b.key.parent != key.parent) return std::nullopt;
  auto stored = block_tokens(b.id);
  if (!std::equal(tokens.begin(), tokens.end(), stored.begin(), stored.end())) return std::nullopt;
  return b.id;
}

std::vector<BlockId> BlockPool::take_evicted() {
  for (BlockId id : evicted_) evict_queued_[id] = 0;
  return std::exchange(evicted_, {});
}

void BlockPool::drop_cache() {
  for (BlockId id = head_; id >= 0; id = blocks_[id].next) uncache(id);
}

Status BlockPool::check_invariants() const {
  const KvBlock& null = blocks_[kNullBlock];
  if (null.ref_count != 0 || null.cached || null.prev != -1 || null.next != -1 || head_ == kNullBlock)
    return Status(Code::kInternal, "null block was used");
  int32_t count = 0;
  BlockId prev = -1;
  std::vector<char> on_list(blocks_.size(), 0);
  for (BlockId id = head_; id >= 0; id = blocks_[id].next) {
    if (++count > n_blocks()) return Status(Code::kInternal, "free list has a cycle");
    if (blocks_[id].prev != prev) return Status(Code::kInternal, "free list back link broken at " + std::to_string(id));
    if (blocks_[id].ref_count != 0) return Status(Code::kInternal, "block " + std::to_string(id) + " on free list with refs");
    on_list[id] = 1;
    prev = id;
  }
  if (prev != tail_) return Status(Code::kInternal, "free list tail mismatch");
  if (count != n_free_) return Status(Code::kInternal, "free count mismatch");
  for (BlockId id = 1; id < n_blocks(); ++id) {
    const KvBlock& b = blocks_[id];
    if (b.ref_count < 0) return Status(Code::kInternal, "negative ref count");
    if ((b.ref_count == 0) != static_cast<bool>(on_list[id]))
      return Status(Code::kInternal, "block " + std::to_string(id) + ": free-list membership disagrees with ref count");
    if (b.cached) {
      auto it = cache_.find(b.key.hash);
      if (it == cache_.end() || it->second != id) return Status(Code::kInternal, "cached block missing from map");
    }
  }
  for (const auto& [h, id] : cache_)
    if (!blocks_[id].cached || blocks_[id].key.hash != h) return Status(Code::kInternal, "map entry for uncached block");
  return check_eviction_queue();
}

Status BlockPool::check_eviction_queue() const {
  if (static_cast<int32_t>(evicted_.size()) > num_usable()) return Status(Code::kInternal, "eviction queue overflows");
  std::vector<char> seen(blocks_.size(), 0);
  for (BlockId id : evicted_) {
    if (id <= kNullBlock || id >= n_blocks()) return Status(Code::kInternal, "eviction queue holds a bad id");
    if (seen[id]++) return Status(Code::kInternal, "block " + std::to_string(id) + " queued twice");
  }
  if (seen != evict_queued_) return Status(Code::kInternal, "eviction queue flags disagree with the queue");
  return Status::ok();
}

}  // namespace kvs::kv
