// The on-disk format of a disk-tier segment: an append-only file
//
//   SegmentHeader (kSegmentHeaderBytes)  then records, each  RecordHeader (kRecordHeaderBytes) + payload
//
// SegmentHeader: magic "KVSSEG\0\1", format version, the model fingerprint, the KV dtype and geometry, the
// embedding width, and an xxh3 of the header's own bytes. A segment whose header does not match the running
// model (fingerprint, dtype, geometry) is never read.
// RecordHeader: magic, type, payload length, xxh3 of the payload, xxh3 of the header's first 24 bytes. A record
// is served only when both checksums hold. All integers are little-endian (x86-64 only, like the kernels).
//
// Invariants: encode_* then decode_* round-trips; decode_* rejects (Corrupt) any byte string whose checksums
// do not hold, so a torn or bit-flipped header is never taken for a valid one.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/dtype.h"
#include "base/status.h"

namespace kvs::store {

constexpr uint32_t kFormatVersion = 1;
constexpr size_t kSegmentHeaderBytes = 64;
constexpr size_t kRecordHeaderBytes = 32;
constexpr uint32_t kRecordMagic = 0x3152564b;  // "KVR1"
constexpr uint64_t kMaxRecordPayload = uint64_t{1} << 30;

// What a segment's bytes are valid for: written by this model, with this KV layout.
struct SegmentIdentity {
  uint64_t model_fingerprint = 0;
  DType kv_dtype = DType::kF32;
  uint32_t block_size = 0, n_layer = 0, n_kv_head = 0, head_dim = 0;
  uint32_t embed_dim = 0;
  uint64_t block_payload_bytes = 0;
  bool operator==(const SegmentIdentity&) const = default;
};

enum class RecordType : uint32_t { kBlock = 1, kDonor = 2 };

struct RecordHeader {
  RecordType type = RecordType::kBlock;
  uint64_t payload_len = 0;
  uint64_t payload_hash = 0;  // xxh3_64 of the payload
};

uint64_t checksum(std::span<const std::byte> bytes);  // xxh3_64

std::array<std::byte, kSegmentHeaderBytes> encode_segment_header(const SegmentIdentity& id);
// Corrupt: bad magic or checksum; Unsupported: another format version.
Result<SegmentIdentity> decode_segment_header(std::span<const std::byte> bytes);

std::array<std::byte, kRecordHeaderBytes> encode_record_header(const RecordHeader& h);
// Corrupt: bad magic, checksum, type or a payload length over kMaxRecordPayload.
Result<RecordHeader> decode_record_header(std::span<const std::byte> bytes);

}  // namespace kvs::store
