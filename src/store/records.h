// The payloads of the disk tier's two record types (segment_format.h frames them).
//
//   BlockRecord: model fingerprint u64, key hash u64, parent hash u64, share domain u64, n_tokens u32, pad u32,
//                tokens i32[n_tokens], kv: the block's raw payload (kv::KvStorage::read_block layout)
//   DonorRecord: share domain u64, content key u64, n_tokens u32, n_blocks u32, embed_dim u32, pad u32,
//                tokens i32[n_tokens], block key hashes u64[n_blocks], embedding f32[embed_dim]
//
// A block record names its model and domain itself, so a block read back is checked against both, not only
// against the segment header. A donor record names its blocks by key (the prefix-chain keys of kv/prefix_hash.h,
// the tail block's key last), never by pool id: ids do not survive a restart.
//
// Invariants: decode(encode(r)) == r; decode rejects (Corrupt) a payload whose lengths do not add up exactly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"

namespace kvs::store {

struct BlockRecord {
  uint64_t model_fingerprint = 0;
  uint64_t key = 0, parent = 0, domain = 0;
  std::vector<int32_t> tokens;  // (block_size) the block's tokens (a tail block: padded with kv::kTailPad)
  std::vector<std::byte> kv;    // (block_payload_bytes) raw K/V
  bool operator==(const BlockRecord&) const = default;
};

struct DonorRecord {
  uint64_t domain = 0;
  uint64_t content_key = 0;         // donor_content_key(domain, tokens): one record per distinct donor
  std::vector<int32_t> tokens;      // the donor's prompt (usable tokens)
  std::vector<uint64_t> block_keys; // its blocks' key hashes, in order
  std::vector<float> embedding;     // (embed_dim) L2-normalised
  bool operator==(const DonorRecord&) const = default;
};

// Never 0 or UINT64_MAX (ids of the ANN index).
uint64_t donor_content_key(uint64_t domain, std::span<const int32_t> tokens);

std::vector<std::byte> encode_block(const BlockRecord& r);
Result<BlockRecord> decode_block(std::span<const std::byte> payload);
std::vector<std::byte> encode_donor(const DonorRecord& r);
Result<DonorRecord> decode_donor(std::span<const std::byte> payload);

}  // namespace kvs::store
