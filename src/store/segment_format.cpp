#include "store/segment_format.h"

#include <xxhash.h>

#include <cstring>

namespace kvs::store {

namespace {
constexpr char kSegmentMagic[8] = {'K', 'V', 'S', 'S', 'E', 'G', '\0', '\1'};

template <typename T>
void put(std::byte* base, size_t off, T v) { std::memcpy(base + off, &v, sizeof(T)); }
template <typename T>
T get(const std::byte* base, size_t off) {
  T v;
  std::memcpy(&v, base + off, sizeof(T));
  return v;
}
}  // namespace

uint64_t checksum(std::span<const std::byte> bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

std::array<std::byte, kSegmentHeaderBytes> encode_segment_header(const SegmentIdentity& id) {
  std::array<std::byte, kSegmentHeaderBytes> b{};
  std::memcpy(b.data(), kSegmentMagic, 8);
  put<uint32_t>(b.data(), 8, kFormatVersion);
  put<uint32_t>(b.data(), 12, static_cast<uint32_t>(kSegmentHeaderBytes));
  put<uint64_t>(b.data(), 16, id.model_fingerprint);
  put<uint32_t>(b.data(), 24, static_cast<uint32_t>(id.kv_dtype));
  put<uint32_t>(b.data(), 28, id.block_size);
  put<uint32_t>(b.data(), 32, id.n_layer);
  put<uint32_t>(b.data(), 36, id.n_kv_head);
  put<uint32_t>(b.data(), 40, id.head_dim);
  put<uint32_t>(b.data(), 44, id.embed_dim);
  put<uint64_t>(b.data(), 48, id.block_payload_bytes);
  put<uint64_t>(b.data(), 56, checksum(std::span(b).first(56)));
  return b;
}

Result<SegmentIdentity> decode_segment_header(std::span<const std::byte> b) {
  if (b.size() < kSegmentHeaderBytes) return corrupt("segment header truncated");
  if (std::memcmp(b.data(), kSegmentMagic, 8) != 0) return corrupt("not a kvshare segment (bad magic)");
  if (get<uint64_t>(b.data(), 56) != checksum(b.first(56))) return corrupt("segment header checksum mismatch");
  const uint32_t version = get<uint32_t>(b.data(), 8);
  if (version != kFormatVersion)
    return unsupported("segment format version " + std::to_string(version) + " (this build reads " +
                       std::to_string(kFormatVersion) + ")");
  SegmentIdentity id;
  id.model_fingerprint = get<uint64_t>(b.data(), 16);
  id.kv_dtype = static_cast<DType>(get<uint32_t>(b.data(), 24));
  id.block_size = get<uint32_t>(b.data(), 28);
  id.n_layer = get<uint32_t>(b.data(), 32);
  id.n_kv_head = get<uint32_t>(b.data(), 36);
  id.head_dim = get<uint32_t>(b.data(), 40);
  id.embed_dim = get<uint32_t>(b.data(), 44);
  id.block_payload_bytes = get<uint64_t>(b.data(), 48);
  return id;
}

std::array<std::byte, kRecordHeaderBytes> encode_record_header(const RecordHeader& h) {
  std::array<std::byte, kRecordHeaderBytes> b{};
  put<uint32_t>(b.data(), 0, kRecordMagic);
  put<uint32_t>(b.data(), 4, static_cast<uint32_t>(h.type));
  put<uint64_t>(b.data(), 8, h.payload_len);
  put<uint64_t>(b.data(), 16, h.payload_hash);
  put<uint64_t>(b.data(), 24, checksum(std::span(b).first(24)));
  return b;
}

Result<RecordHeader> decode_record_header(std::span<const std::byte> b) {
  if (b.size() < kRecordHeaderBytes) return corrupt("record header truncated");
  if (get<uint32_t>(b.data(), 0) != kRecordMagic) return corrupt("bad record magic");
  if (get<uint64_t>(b.data(), 24) != checksum(b.first(24))) return corrupt("record header checksum mismatch");
  RecordHeader h;
  const uint32_t type = get<uint32_t>(b.data(), 4);
  if (type != static_cast<uint32_t>(RecordType::kBlock) && type != static_cast<uint32_t>(RecordType::kDonor))
    return corrupt("unknown record type " + std::to_string(type));
  h.type = static_cast<RecordType>(type);
  h.payload_len = get<uint64_t>(b.data(), 8);
  h.payload_hash = get<uint64_t>(b.data(), 16);
  if (h.payload_len > kMaxRecordPayload) return corrupt("record payload length out of range");
  return h;
}

}  // namespace kvs::store
