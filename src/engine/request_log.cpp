#include "engine/request_log.h"

#include "base/status.h"

namespace kvs::engine {

RequestLog::RequestLog(size_t capacity) : capacity_(capacity) { KVS_CHECK(capacity > 0); }

void RequestLog::add(RequestRecord r) {
  std::lock_guard<std::mutex> lk(mu_);
  if (ring_.size() == capacity_) ring_.pop_front();
  ring_.push_back(std::move(r));
}

size_t RequestLog::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  return ring_.size();
}

std::optional<RequestRecord> RequestLog::find(const std::string& request_id) const {
  if (request_id.empty()) return std::nullopt;
  std::lock_guard<std::mutex> lk(mu_);
  for (auto it = ring_.rbegin(); it != ring_.rend(); ++it)
    if (it->request_id == request_id) return *it;
  return std::nullopt;
}

std::optional<RequestRecord> RequestLog::find(uint64_t id) const {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto it = ring_.rbegin(); it != ring_.rend(); ++it)
    if (it->id == id) return *it;
  return std::nullopt;
}

std::optional<RequestRecord> RequestLog::find_donor(int64_t donor_id) const {
  if (donor_id < 0) return std::nullopt;
  std::lock_guard<std::mutex> lk(mu_);
  for (auto it = ring_.rbegin(); it != ring_.rend(); ++it)
    if (it->trace.donated_as == donor_id) return *it;
  return std::nullopt;
}

}  // namespace kvs::engine
