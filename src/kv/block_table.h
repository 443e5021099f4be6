// BlockTable: one sequence's KV blocks. Logical block i holds the sequence's slots (== positions)
// [i * block_size, (i + 1) * block_size). Every entry is a counted reference (BlockRef).
// Invariants: ids()[i] == refs[i].id(); the first n_published blocks are published in the prefix cache (read-only
// from then on); the sequence writes only into blocks at index >= n_published that it allocated itself.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "kv/block_pool.h"

namespace kvs::kv {

class BlockTable {
 public:
  int32_t size() const { return static_cast<int32_t>(ids_.size()); }
  std::span<const int32_t> ids() const { return ids_; }
  void push(BlockRef ref) {
    ids_.push_back(ref.id());
    refs_.push_back(std::move(ref));
  }
  // Drops every reference, tail first (so a finished sequence's last blocks are evicted before its prefix).
  void clear() {
    while (!refs_.empty()) refs_.pop_back();
    ids_.clear();
    n_published = 0;
    last_hash = 0;
  }
  ~BlockTable() { clear(); }

  int32_t n_published = 0;  // leading blocks published in the prefix cache
  uint64_t last_hash = 0;   // hash of the last published block (chain parent of the next)

 private:
  std::vector<int32_t> ids_;
  std::vector<BlockRef> refs_;
};

}  // namespace kvs::kv
