// ThreadPool: every index of every job runs exactly once, jobs of different sizes and kinds back to back (the
// phantom-chunk race of 2026-12-02 needed a short chunk job followed by a longer one), with more threads than
// cores so that workers are descheduled at arbitrary points. Bounded: a fixed number of jobs, and a watchdog
// that fails the test (instead of hanging ctest) if a job never returns.
#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

namespace kvs {
namespace {

class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit) : thread_([this, limit] {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done_.load() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!done_.load()) {
      ADD_FAILURE() << "ThreadPool job did not return within " << limit.count() << " s";
      std::_Exit(3);
    }
  }) {}
  ~Watchdog() {
    done_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

TEST(ThreadPool, ParallelChunksRunsEachIndexOnceAcrossAlternatingSizes) {
  Watchdog dog(std::chrono::seconds(120));
  for (int threads : {2, 3, 6}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(200);  // (max n) calls per index of the current job
    for (int job = 0; job < 20000; ++job) {
      const int64_t n = (job % 3 == 0) ? 2 + job % 5 : 40 + job % 160;  // short, then longer jobs
      for (auto& h : hits) h.store(0, std::memory_order_relaxed);
      pool.parallel_chunks(n, [&](int64_t i) {
        ASSERT_LT(i, n);
        hits[i].fetch_add(1, std::memory_order_relaxed);
      });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " job " << job << " n " << n << " index " << i;
      for (int64_t i = n; i < static_cast<int64_t>(hits.size()); ++i) ASSERT_EQ(hits[i].load(), 0);
    }
  }
}

TEST(ThreadPool, MixedJobKindsEachRunExactlyOnce) {
  Watchdog dog(std::chrono::seconds(120));
  ThreadPool pool(4);
  for (int job = 0; job < 2000; ++job) {
    std::vector<std::atomic<int>> per_thread(4);
    pool.parallel_for([&](int ith, int nth) {
      ASSERT_EQ(nth, 4);
      per_thread[ith].fetch_add(1);
    });
    for (auto& c : per_thread) ASSERT_EQ(c.load(), 1);
    std::atomic<int64_t> sum{0};
    const int64_t n = 1 + job % 97;
    pool.parallel_chunks(n, [&](int64_t i) { sum.fetch_add(i + 1); });
    ASSERT_EQ(sum.load(), n * (n + 1) / 2);
    std::atomic<int64_t> covered{0};
    pool.parallel_range(n * 3, 4, [&](int64_t b, int64_t e) { covered.fetch_add(e - b); });
    ASSERT_EQ(covered.load(), n * 3);
  }
}

}  // namespace
}  // namespace kvs
