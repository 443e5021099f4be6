// Reading segments back: a whole-segment scan at start-up and single-record reads on promotion.
//
// scan_segment validates the header against the running model's identity (a segment of another model,
// dtype or geometry is skipped whole) and then every record: a record whose header checksum fails, or that
// runs past the end of the file (a torn tail), ends the scan (nothing after it can be framed); a record whose
// payload checksum fails is skipped and the scan goes on. Nothing that fails a checksum reaches the callback.
// read_record re-checks both checksums of one record, so a segment corrupted after the scan is still never
// served.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "store/env.h"
#include "store/segment_format.h"

namespace kvs::store {

struct ScanReport {
  int64_t records = 0;           // valid records handed to the callback
  int64_t corrupt_records = 0;   // skipped: payload checksum mismatch
  bool torn_tail = false;        // the scan stopped at a bad or incomplete record header / payload
  uint64_t valid_bytes = 0;      // end of the last valid record
  std::string first_problem;     // for the log ("" when clean)
};

// on_record(type, offset of its RecordHeader, payload). Errors: the segment cannot be read, its header is bad
// (Corrupt / Unsupported), or it belongs to another model (FailedPrecondition-like InvalidArgument).
Result<ScanReport> scan_segment(Env* env, const std::string& path, const SegmentIdentity& expect,
                                const std::function<void(RecordType, uint64_t, std::span<const std::byte>)>& on_record);

// The payload of the record at `offset` (of its header), both checksums and its type verified.
Result<std::vector<std::byte>> read_record(Env* env, const std::string& path, uint64_t offset, RecordType expect);

}  // namespace kvs::store
