#include "kv/kv_manager.h"

#include <algorithm>

#include "kv/prefix_hash.h"

namespace kvs::kv {

KvManager::KvManager(const KvGeometry& g, int32_t n_blocks)
    : pool_(n_blocks + 1, g.block_size), storage_(g.n_layer, n_blocks + 1, g.block_size, g.n_kv_head, g.head_dim, g.dtype) {}

int32_t KvManager::blocks_for_budget(const KvGeometry& g, int64_t mib) {
  const int64_t per = KvStorage::bytes_per_block(g.n_layer, g.block_size, g.n_kv_head, g.head_dim, g.dtype);
  return static_cast<int32_t>(std::max<int64_t>(1, mib * 1024 * 1024 / per));
}

std::vector<BlockId> KvManager::match_prefix(uint64_t domain, std::span<const int32_t> prompt) const {
  std::vector<BlockId> out;
  const int64_t bs = block_size();
  // At most (len - 1) slots may come from the cache: the last prompt token is always computed.
  const int64_t max_blocks = prompt.empty() ? 0 : (static_cast<int64_t>(prompt.size()) - 1) / bs;
  uint64_t parent = 0;
  for (int64_t i = 0; i < max_blocks; ++i) {
    auto toks = prompt.subspan(i * bs, bs);
    BlockKey key = block_key(domain, parent, toks);
    auto hit = pool_.lookup(key, toks);
    if (!hit) break;
    out.push_back(*hit);
    parent = key.hash;
  }
  return out;
}

int64_t KvManager::adopt_prefix(BlockTable& table, uint64_t domain, std::span<const int32_t> prompt,
                                std::span<const BlockId> matched) {
  KVS_CHECK(table.size() == 0);
  for (BlockId id : matched) table.push(BlockRef::share(&pool_, id));
  table.n_published = static_cast<int32_t>(matched.size());
  table.last_hash = matched.empty() ? 0 : pool_.block(matched.back()).key.hash;
  return static_cast<int64_t>(matched.size()) * block_size();
}

Status KvManager::reserve(BlockTable& table, int64_t n_slots) {
  const int32_t need = blocks_needed(n_slots) - table.size();
  if (need <= 0) return Status::ok();
  auto ids = pool_.allocate(need);
  if (!ids.is_ok()) return ids.status();
  for (BlockId id : ids.value()) table.push(BlockRef::adopt(&pool_, id));
  return Status::ok();
}

void KvManager::publish(BlockTable& table, uint64_t domain, std::span<const int32_t> tokens, int64_t n_computed) {
  const int64_t bs = block_size();
  const int64_t full = std::min<int64_t>(n_computed, static_cast<int64_t>(tokens.size())) / bs;
  while (table.n_published < full && table.n_published < table.size()) {
    const int32_t i = table.n_published;
    auto toks = tokens.subspan(static_cast<size_t>(i) * bs, bs);
    BlockKey key = block_key(domain, table.last_hash, toks);
    const BlockId id = table.ids()[i];
    if (!pool_.block(id).cached) pool_.cache_block(id, key, toks);  // false if another block holds the key: fine
    table.last_hash = key.hash;
    ++table.n_published;
  }
}

std::optional<BlockId> KvManager::publish_tail(const BlockTable& table, uint64_t domain,
                                               std::span<const int32_t> prompt) {
  const int32_t bs = block_size();
  const int64_t full = static_cast<int64_t>(prompt.size()) / bs, n_tail = static_cast<int64_t>(prompt.size()) % bs;
  if (n_tail == 0 || table.size() <= full) return std::nullopt;
  std::vector<int32_t> padded(bs, kTailPad);  // (block_size) tail tokens, then padding
  std::copy(prompt.begin() + full * bs, prompt.end(), padded.begin());
  const BlockKey key = block_key(domain, chain_hash(domain, prompt, full, bs), padded);
  if (auto hit = pool_.lookup(key, padded)) return hit;
  auto ids = pool_.allocate(1);
  if (!ids.is_ok()) return std::nullopt;
  const BlockId dst = ids.value()[0];
  // The whole block: slots past the tail (decode's, or stale) are copied too and never read, since a donor lends
  // only tokens[0, usable_tokens).
  storage_.copy_block(table.ids()[full], dst);
  const bool cached = pool_.cache_block(dst, key, padded);
  KVS_CHECK(cached);  // the lookup above missed, so no block holds the key
  pool_.release(dst);  // free but cached: the LRU decides how long the tail lives
  return dst;
}

}  // namespace kvs::kv
