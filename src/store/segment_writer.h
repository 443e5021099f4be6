// SegmentWriter: appends framed records (segment_format.h) to one new segment file.
//
// Invariants: the segment header is the first thing written; each record goes out in a single append (header +
// payload), so a crash or short write tears at most the last record, which the scanner detects and skips;
// after any failed append or sync the writer is broken() and refuses further appends (the owner starts a new
// segment: appending after a torn record would hide the records behind it from the scanner).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/status.h"
#include "store/env.h"
#include "store/segment_format.h"

namespace kvs::store {

class SegmentWriter {
 public:
  static Result<std::unique_ptr<SegmentWriter>> create(Env* env, const std::string& path, const SegmentIdentity& id);

  // Appends one record; returns the offset of its RecordHeader.
  Result<uint64_t> append(RecordType type, std::span<const std::byte> payload);
  Status sync();
  Status close();
  uint64_t size() const { return size_; }  // bytes written (header included)
  bool broken() const { return broken_; }
  const std::string& path() const { return path_; }

 private:
  SegmentWriter(std::unique_ptr<WritableFile> f, std::string path) : file_(std::move(f)), path_(std::move(path)) {}
  std::unique_ptr<WritableFile> file_;
  std::string path_;
  uint64_t size_ = 0;
  bool broken_ = false;
};

}  // namespace kvs::store
