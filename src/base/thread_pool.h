// ThreadPool: a fixed set of workers for data-parallel loops (ggml style).
// Invariants: parallel_for runs fn(thread_index, n_threads) exactly once per thread index in [0, n_threads)
// and returns only after all calls finished; calls are not reentrant (one parallel_for at a time, from the
// owner thread). Workers spin briefly between jobs (decode issues hundreds of small jobs per token), then sleep.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kvs {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads >= 1; the caller's thread is thread 0
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Runs fn(ith, nth) on every thread, the caller included. Blocks until done.
  void parallel_for(const std::function<void(int ith, int nth)>& fn);
  // Splits [0, n) into contiguous chunks of `grain` multiples and runs fn(begin, end) on each thread.
  void parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

  static int default_threads();  // hardware concurrency, at least 1

 private:
  void worker_loop(int ith);

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace kvs
