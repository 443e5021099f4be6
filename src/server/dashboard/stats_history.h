// StatsHistory: the engine's metrics sampled once per period by a thread of its own, the last `capacity` samples
// kept, so the dashboard's charts show the recent past as soon as the page opens (not only what happened while it
// was open).
// Invariants: samples are in time order, strictly increasing unix_ms, at most capacity of them; the thread is
// started by the constructor and joined by the destructor (the source is never called after it returns).
// Thread-safe.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/metrics.h"

namespace kvs::server {

struct StatsSample {
  int64_t unix_ms = 0;
  engine::MetricsSnapshot metrics;
};

class StatsHistory {
 public:
  using Source = std::function<engine::MetricsSnapshot()>;
  // REQUIRES: period > 0, capacity > 0; source callable from the sampling thread until the destructor returns.
  StatsHistory(Source source, std::chrono::milliseconds period, size_t capacity);
  ~StatsHistory();
  StatsHistory(const StatsHistory&) = delete;
  StatsHistory& operator=(const StatsHistory&) = delete;

  // The samples taken after `after_unix_ms`, oldest first.
  std::vector<StatsSample> since(int64_t after_unix_ms) const;

 private:
  void run();
  void sample();

  const Source source_;
  const std::chrono::milliseconds period_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                // GUARDED_BY(mu_)
  std::deque<StatsSample> samples_;  // GUARDED_BY(mu_)
  std::thread thread_;               // last: started after every member above exists
};

}  // namespace kvs::server
