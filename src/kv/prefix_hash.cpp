#include "kv/prefix_hash.h"

#include <xxhash.h>

#include <cstring>
#include <vector>

namespace kvs::kv {

BlockKey block_key(uint64_t domain, uint64_t parent_hash, std::span<const int32_t> tokens) {
  // (domain u64, parent u64, tokens i32[n]) hashed as one buffer.
  std::vector<uint8_t> buf(16 + tokens.size_bytes());
  std::memcpy(buf.data(), &domain, 8);
  std::memcpy(buf.data() + 8, &parent_hash, 8);
  std::memcpy(buf.data() + 16, tokens.data(), tokens.size_bytes());
  uint64_t h = XXH3_64bits_withSeed(buf.data(), buf.size(), 0x6b7673686172ULL);
  if (h == 0) h = 1;  // 0 means "no parent"
  return BlockKey{h, domain, parent_hash};
}

uint64_t chain_hash(uint64_t domain, std::span<const int32_t> prompt, int64_t n_blocks, int32_t block_size) {
  uint64_t h = 0;
  for (int64_t i = 0; i < n_blocks; ++i)
    h = block_key(domain, h, prompt.subspan(static_cast<size_t>(i * block_size), static_cast<size_t>(block_size))).hash;
  return h;
}

}  // namespace kvs::kv
