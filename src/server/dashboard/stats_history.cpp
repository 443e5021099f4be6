#include "server/dashboard/stats_history.h"

#include "base/status.h"

namespace kvs::server {

StatsHistory::StatsHistory(Source source, std::chrono::milliseconds period, size_t capacity)
    : source_(std::move(source)), period_(period), capacity_(capacity) {
  KVS_CHECK(period_.count() > 0 && capacity_ > 0 && source_);
  sample();
  thread_ = std::thread([this] { run(); });
}

StatsHistory::~StatsHistory() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StatsHistory::sample() {
  StatsSample s;
  s.metrics = source_();
  s.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count();
  std::lock_guard<std::mutex> lk(mu_);
  if (!samples_.empty() && s.unix_ms <= samples_.back().unix_ms) s.unix_ms = samples_.back().unix_ms + 1;
  if (samples_.size() == capacity_) samples_.pop_front();
  samples_.push_back(std::move(s));
}

void StatsHistory::run() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!cv_.wait_for(lk, period_, [this] { return stop_; })) {
    lk.unlock();
    sample();
    lk.lock();
  }
}

std::vector<StatsSample> StatsHistory::since(int64_t after_unix_ms) const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<StatsSample> out;
  for (const StatsSample& s : samples_)
    if (s.unix_ms > after_unix_ms) out.push_back(s);
  return out;
}

}  // namespace kvs::server
