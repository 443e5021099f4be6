// RequestLog: a bounded ring of the most recent finished requests with what the sharing layer did to each prompt
// token, for the operator's dashboard (server/dashboard). The engine thread adds one record per finished request;
// any thread may read.
//
//   SharingTrace   filled while the request is admitted (engine_admission.cpp): the donor's tokens and the edit
//                  script donor -> prompt (semantic), the reused positions that selective recompute recomputed
//   RequestRecord  the trace plus the request's identity (ids, tenant, share domain), prompt and usage
//
// Invariants:
//  - at most capacity() records are kept; adding one more drops the oldest (the ring never grows past it);
//  - records are kept in finishing order; recent() returns the newest first;
//  - a record is a copy: nothing in it refers to engine state (the donor may be evicted, the blocks reused);
//  - trace.runs, when not empty, is a valid script from trace.donor_tokens to prompt (align::verify);
//    trace.recomputed is ascending, inside [0, prompt.size()) and only holds positions of KEEP runs.
// Thread-safe: every member takes the ring's mutex.
#pragma once
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "align/edit_script.h"
#include "engine/request.h"

namespace kvs::engine {

struct SharingTrace {
  std::vector<int32_t> donor_tokens;  // (donor_len) the donor's prompt as it was reused; empty unless semantic
  std::vector<align::EditRun> runs;   // donor -> prompt, script order; empty unless semantic
  std::vector<int32_t> recomputed;    // reused prompt positions recomputed by selection (deviation, edit-aware)
  int32_t exact_prefix = 0;           // leading prompt tokens reused in place from the prefix cache or the donor
  int64_t donated_as = -1;            // donor id this request's prompt was registered as (-1: not a donor)

  // A new admission: forgets what the previous one reused (a preempted request is admitted again); donated_as
  // stays (a request donates at most once).
  void reset() {
    donor_tokens.clear();
    runs.clear();
    recomputed.clear();
    exact_prefix = 0;
  }
};

struct RequestRecord {
  uint64_t id = 0;                 // engine request id (RequestHandle::id)
  std::string request_id;          // the API's response id (RequestParams::request_id); may be empty
  std::string tenant;
  uint64_t domain = 0;             // share domain salt
  int64_t finished_unix_ms = 0;    // wall clock when it finished
  std::string finish_reason;       // "stop", "length", "cancelled", "error"
  std::vector<int32_t> prompt;     // (n_prompt) token ids
  Usage usage;                     // includes the sharing report
  SharingTrace trace;
};

class RequestLog {
 public:
  static constexpr size_t kDefaultCapacity = 256;
  explicit RequestLog(size_t capacity = kDefaultCapacity);

  void add(RequestRecord r);
  size_t capacity() const { return capacity_; }
  size_t size() const;
  // At most `limit` records, newest first, for which keep(record) is true.
  template <typename Pred>
  std::vector<RequestRecord> recent(size_t limit, Pred keep) const {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<RequestRecord> out;
    for (auto it = ring_.rbegin(); it != ring_.rend() && out.size() < limit; ++it)
      if (keep(*it)) out.push_back(*it);
    return out;
  }
  // The record with this engine id or API request id (nullopt when it was never added or has been dropped).
  std::optional<RequestRecord> find(const std::string& request_id) const;
  std::optional<RequestRecord> find(uint64_t id) const;
  // The newest record whose prompt was registered as this donor (nullopt: none kept).
  std::optional<RequestRecord> find_donor(int64_t donor_id) const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::deque<RequestRecord> ring_;  // GUARDED_BY(mu_): oldest first, size <= capacity_
};

}  // namespace kvs::engine
