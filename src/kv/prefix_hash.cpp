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

}  // namespace kvs::kv
