#include "engine/request.h"

namespace kvs::engine {

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
