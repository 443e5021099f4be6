#include "store/record_check.h"

#include <algorithm>

namespace kvs::store {

std::vector<std::byte> frame_record(RecordType type, std::span<const std::byte> payload) {
  RecordHeader h;
  h.type = type;
  h.payload_len = payload.size();
  h.payload_hash = checksum(payload);
  const auto head = encode_record_header(h);
  std::vector<std::byte> out(head.begin(), head.end());  // (kRecordHeaderBytes + payload)
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Result<std::span<const std::byte>> unframe_record(std::span<const std::byte> bytes, RecordType type) {
  if (bytes.size() < kRecordHeaderBytes) return corrupt("record shorter than its header");
  auto h = decode_record_header(bytes.first(kRecordHeaderBytes));
  if (!h.is_ok()) return h.status();
  if (h.value().type != type) return corrupt("record of another type");
  const auto payload = bytes.subspan(kRecordHeaderBytes);
  if (payload.size() != h.value().payload_len) return corrupt("record length does not match its header");
  if (checksum(payload) != h.value().payload_hash) return corrupt("record checksum mismatch");
  return payload;
}

Status verify_block(const BlockRecord& rec, const SegmentIdentity& id, uint64_t key, uint64_t domain,
                    std::span<const int32_t> tokens, size_t kv_bytes) {
  if (rec.model_fingerprint != id.model_fingerprint) return corrupt("block record of another model");
  if (rec.key != key) return corrupt("block record under another key");
  if (rec.domain != domain) return corrupt("block record of another share domain");
  if (rec.kv.size() != kv_bytes || rec.kv.size() != id.block_payload_bytes) return corrupt("block record size mismatch");
  if (rec.tokens.size() != tokens.size() || !std::equal(tokens.begin(), tokens.end(), rec.tokens.begin()))
    return corrupt("block record tokens do not match");
  return Status::ok();
}

Status verify_donor(const DonorRecord& rec, const SegmentIdentity& id) {
  if (rec.embedding.size() != id.embed_dim) return corrupt("donor record embedding width mismatch");
  if (rec.block_keys.empty()) return corrupt("donor record names no block");
  if (rec.content_key != donor_content_key(rec.domain, rec.tokens)) return corrupt("donor record key mismatch");
  return Status::ok();
}

uint64_t identity_hash(const SegmentIdentity& id) {
  const auto h = encode_segment_header(id);
  return checksum(h);
}

}  // namespace kvs::store
