// KvManager: the KV memory of one model replica: the BlockPool (ownership, LRU cache), the KvStorage (the K/V elements),
// and the sequence-level operations the scheduler needs.
//
//   match_prefix  longest run of cached full blocks equal to a prompt's prefix, in a share domain
//                 (capped so at least the last prompt token is computed: its logits are needed, and a published
//                 block is never written)
//   adopt_prefix  takes references on those blocks into a sequence's table
//   reserve       grows a table so it covers n slots (allocating fresh blocks); fails when the pool is dry
//   publish       registers the sequence's newly completed full blocks in the prefix cache
//   publish_tail  copies a prompt's last, partial block into a block of its own and caches it under a tail key
//                 (the chain hash of the prompt's full blocks + the tail tokens padded with kTailPad), so a
//                 donor can lend its whole prompt; tail keys never match a prefix lookup (real token ids are
//                 >= 0), and the block is evictable like any cached block
//   release       drops the sequence's references (blocks stay cached until evicted)
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "kv/block_pool.h"
#include "kv/block_table.h"
#include "kv/kv_storage.h"

namespace kvs::kv {

struct KvGeometry {
  int64_t n_layer = 0, n_kv_head = 0, head_dim = 0;
  int32_t block_size = 16;
  DType dtype = DType::kF16;  // element type of the stored K/V (f16 or f32)
};

class KvManager {
 public:
  // n_blocks usable blocks (plus the null block).
  KvManager(const KvGeometry& g, int32_t n_blocks);
  // Blocks that fit in `mib` MiB of K/V.
  static int32_t blocks_for_budget(const KvGeometry& g, int64_t mib);

  BlockPool& pool() { return pool_; }
  const BlockPool& pool() const { return pool_; }
  KvStorage& storage() { return storage_; }
  int32_t block_size() const { return pool_.block_size(); }
  int32_t blocks_needed(int64_t n_slots) const { return static_cast<int32_t>((n_slots + block_size() - 1) / block_size()); }

  // Cached blocks matching the prompt's leading full blocks (verified token by token).
  std::vector<BlockId> match_prefix(uint64_t domain, std::span<const int32_t> prompt) const;
  // Takes a reference on each matched block and appends them to the (empty) table; returns the slots covered.
  int64_t adopt_prefix(BlockTable& table, uint64_t domain, std::span<const int32_t> prompt,
                       std::span<const BlockId> matched);
  // Grows the table to cover n_slots; ResourceExhausted (table unchanged) when the pool cannot supply them.
  Status reserve(BlockTable& table, int64_t n_slots);
  // Publishes every full block whose slots are all computed (n_computed slots, tokens[0..n_computed)).
  void publish(BlockTable& table, uint64_t domain, std::span<const int32_t> tokens, int64_t n_computed);
  // REQUIRES: the slots [full * block_size, prompt.size()) of table's block `full` hold the prompt's exactly
  // computed tail (full = prompt.size() / block_size). Returns the cached tail block (an existing one when an
  // identical tail of the same chain is cached already), or nullopt when the prompt has no partial block, the
  // table does not cover it, or the pool cannot supply a block.
  std::optional<BlockId> publish_tail(const BlockTable& table, uint64_t domain, std::span<const int32_t> prompt);
  void release(BlockTable& table) { table.clear(); }

 private:
  BlockPool pool_;
  KvStorage storage_;
};

}  // namespace kvs::kv
