// The checks every tier runs before a stored record is served, and the framing of a record outside a segment
// (a Redis value): one place, so the disk and Redis tiers refuse exactly the same things.
//
//   framed record = RecordHeader (kRecordHeaderBytes: magic, type, length, xxh3 of the payload, header xxh3)
//                   + payload (records.h)
//
// Invariants: unframe_record returns a payload only when both checksums hold and the type and length match;
// verify_block accepts a block only when its model fingerprint, key, domain, tokens and KV size all match what
// the caller asked for; verify_donor accepts a donor only when its content key is the hash of its own domain
// and tokens, it names at least one block and its embedding has the identity's width.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "store/records.h"
#include "store/segment_format.h"

namespace kvs::store {

std::vector<std::byte> frame_record(RecordType type, std::span<const std::byte> payload);
// Corrupt unless `bytes` is exactly one valid framed record of `type`; the payload is a view into bytes.
Result<std::span<const std::byte>> unframe_record(std::span<const std::byte> bytes, RecordType type);

Status verify_block(const BlockRecord& rec, const SegmentIdentity& id, uint64_t key, uint64_t domain,
                    std::span<const int32_t> tokens, size_t kv_bytes);
Status verify_donor(const DonorRecord& rec, const SegmentIdentity& id);

// A stable hash of everything a stored block's bytes depend on (model fingerprint, KV dtype and geometry,
// embedding width): the namespace of a shared store's keys.
uint64_t identity_hash(const SegmentIdentity& id);

}  // namespace kvs::store
