#include "engine/request.h"

namespace kvs::engine {

const char* share_mode_name(ShareMode m) {
  switch (m) {
    case ShareMode::kAuto: return "auto";
    case ShareMode::kFull: return "full";
    case ShareMode::kPrefix: return "prefix";
    case ShareMode::kSemantic: return "semantic";
    case ShareMode::kNaive: return "naive";
  }
  return "auto";
}

bool parse_share_mode(const std::string& s, ShareMode* out) {
  for (ShareMode m : {ShareMode::kAuto, ShareMode::kFull, ShareMode::kPrefix, ShareMode::kSemantic, ShareMode::kNaive})
    if (s == share_mode_name(m)) {
      *out = m;
      return true;
    }
  return false;
}

std::optional<StreamEvent> RequestHandle::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  StreamEvent ev = std::move(events_.front());
  events_.pop_front();
  return ev;
}

void RequestHandle::push(StreamEvent ev) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    events_.push_back(std::move(ev));
  }
  cv_.notify_all();
}

}  // namespace kvs::engine
