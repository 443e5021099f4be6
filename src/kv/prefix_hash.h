// Hash chain for exact prefix reuse: the key of a sequence's i-th full block is
//   hash_i = XXH3_64(domain, hash_{i-1}, tokens of block i)      (hash_{-1} = 0)
// so a block's key names its whole prefix. The share domain (tenant salt) is part of every key, set by the
// server from the API key, never by the client: equal prompts of different domains never share a block.
#pragma once
#include <cstdint>
#include <span>

#include "kv/block_pool.h"

namespace kvs::kv {

BlockKey block_key(uint64_t domain, uint64_t parent_hash, std::span<const int32_t> tokens);

// Token id that pads a partial (tail) block to block_size for its key and its stored tokens. No real token id is
// negative, so a padded block never equals a full block of a prompt: tail blocks are invisible to prefix lookups.
constexpr int32_t kTailPad = -1;

// Hash of the chain of the prompt's first n_blocks full blocks (0 when n_blocks == 0): the parent of block n_blocks.
uint64_t chain_hash(uint64_t domain, std::span<const int32_t> prompt, int64_t n_blocks, int32_t block_size);

}  // namespace kvs::kv
