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

}  // namespace kvs::kv
