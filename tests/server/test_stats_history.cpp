// StatsHistory: samples its source on its own thread, keeps the newest `capacity` in time order, and never calls
// the source after its destructor returned.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "server/dashboard/stats_history.h"

namespace kvs::server {
namespace {

TEST(StatsHistory, KeepsTheNewestSamplesInOrderAndStopsOnDestruction) {
  std::atomic<uint64_t> calls{0};
  {
    StatsHistory h(
        [&] {
          engine::MetricsSnapshot m;
          m.requests_total = ++calls;
          return m;
        },
        std::chrono::milliseconds(2), 4);
    EXPECT_GE(calls.load(), 1u);  // the first sample is taken at once
    for (int i = 0; i < 2000 && calls.load() < 8; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_GE(calls.load(), 8u) << "the sampling thread did not run";
    const auto all = h.since(0);
    ASSERT_EQ(all.size(), 4u);
    for (size_t i = 1; i < all.size(); ++i) {
      EXPECT_LT(all[i - 1].unix_ms, all[i].unix_ms);
      EXPECT_EQ(all[i - 1].metrics.requests_total + 1, all[i].metrics.requests_total);
    }
    EXPECT_GE(all.front().metrics.requests_total, 5u);  // the oldest were dropped
    const auto later = h.since(all[1].unix_ms);  // (the ring may have moved on meanwhile)
    EXPECT_LE(later.size(), 4u);
    for (const StatsSample& s : later) EXPECT_GT(s.unix_ms, all[1].unix_ms);
    EXPECT_TRUE(h.since(int64_t{1} << 62).empty());
  }
  const uint64_t after = calls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(calls.load(), after);
}

}  // namespace
}  // namespace kvs::server
