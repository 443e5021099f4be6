#include "store/segment_scanner.h"

namespace kvs::store {

Result<ScanReport> scan_segment(Env* env, const std::string& path, const SegmentIdentity& expect,
                                const std::function<void(RecordType, uint64_t, std::span<const std::byte>)>& on_record) {
  auto size = env->file_size(path);
  if (!size.is_ok()) return size.status();
  std::vector<std::byte> file(size.value());  // (file bytes) a segment is bounded by the tier's segment size
  if (!file.empty())
    if (Status st = env->read_at(path, 0, file); !st.is_ok()) return st;
  auto id = decode_segment_header(file);
  if (!id.is_ok()) return id.status();
  if (!(id.value() == expect)) return invalid_argument("segment " + path + " was written for another model or KV layout");
  ScanReport rep;
  uint64_t at = kSegmentHeaderBytes;
  rep.valid_bytes = at;
  const std::span<const std::byte> all(file);
  while (at < file.size()) {
    if (file.size() - at < kRecordHeaderBytes) {
      rep.torn_tail = true;
      rep.first_problem = "incomplete record header at " + std::to_string(at);
      break;
    }
    auto h = decode_record_header(all.subspan(at, kRecordHeaderBytes));
    if (!h.is_ok()) {
      rep.torn_tail = true;
      rep.first_problem = h.status().message() + " at " + std::to_string(at);
      break;
    }
    const uint64_t body = at + kRecordHeaderBytes;
    if (h.value().payload_len > file.size() - body) {
      rep.torn_tail = true;
      rep.first_problem = "record at " + std::to_string(at) + " runs past the end of the segment";
      break;
    }
    const auto payload = all.subspan(body, h.value().payload_len);
    if (checksum(payload) != h.value().payload_hash) {
      ++rep.corrupt_records;
      if (rep.first_problem.empty()) rep.first_problem = "payload checksum mismatch at " + std::to_string(at);
    } else {
      ++rep.records;
      on_record(h.value().type, at, payload);
      rep.valid_bytes = body + h.value().payload_len;
    }
    at = body + h.value().payload_len;
  }
  return rep;
}

Result<std::vector<std::byte>> read_record(Env* env, const std::string& path, uint64_t offset, RecordType expect) {
  std::byte hb[kRecordHeaderBytes];
  if (Status st = env->read_at(path, offset, hb); !st.is_ok()) return st;
  auto h = decode_record_header(hb);
  if (!h.is_ok()) return h.status();
  if (h.value().type != expect) return corrupt("record at " + std::to_string(offset) + " has another type");
  std::vector<std::byte> payload(h.value().payload_len);  // (payload_len)
  if (Status st = env->read_at(path, offset + kRecordHeaderBytes, payload); !st.is_ok()) return st;
  if (checksum(payload) != h.value().payload_hash) return corrupt("payload checksum mismatch in " + path);
  return payload;
}

}  // namespace kvs::store
