#include "store/segment_writer.h"

#include <cstring>
#include <vector>

namespace kvs::store {

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::create(Env* env, const std::string& path,
                                                             const SegmentIdentity& id) {
  auto f = env->create(path);
  if (!f.is_ok()) return f.status();
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(std::move(f).value(), path));
  const auto header = encode_segment_header(id);
  if (Status st = w->file_->append(header); !st.is_ok()) return st;
  w->size_ = header.size();
  return w;
}

Result<uint64_t> SegmentWriter::append(RecordType type, std::span<const std::byte> payload) {
  if (broken_) return internal("segment " + path_ + " is broken after a failed write");
  RecordHeader h{type, payload.size(), checksum(payload)};
  const auto header = encode_record_header(h);
  std::vector<std::byte> buf(header.size() + payload.size());  // one append: a crash tears one record at most
  std::memcpy(buf.data(), header.data(), header.size());
  if (!payload.empty()) std::memcpy(buf.data() + header.size(), payload.data(), payload.size());
  if (Status st = file_->append(buf); !st.is_ok()) {
    broken_ = true;
    return st;
  }
  const uint64_t at = size_;
  size_ += buf.size();
  return at;
}

Status SegmentWriter::sync() {
  Status st = file_->sync();
  if (!st.is_ok()) broken_ = true;
  return st;
}

Status SegmentWriter::close() { return file_->close(); }

}  // namespace kvs::store
