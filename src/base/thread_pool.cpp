#include "base/thread_pool.h"

#include <algorithm>
#include <immintrin.h>

namespace kvs {

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void ThreadPool::worker_loop(int ith) {
  uint64_t seen = 0;
  for (;;) {
    // Spin for a while (cheap hand-off between the many small jobs of a forward pass), then sleep.
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < 100000) {
      if (spins < 20000) _mm_pause();
      else std::this_thread::yield();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    (*job_)(ith, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lk(mu_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
  fn(0, n_threads_);
  // Spin briefly, then yield: on a loaded machine a descheduled worker needs this core to finish.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 4000) _mm_pause();
    else std::this_thread::yield();
  }
  job_ = nullptr;
}

void ThreadPool::parallel_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  grain = std::max<int64_t>(1, grain);
  int64_t n_chunks = (n + grain - 1) / grain;
  parallel_for([&](int ith, int nth) {
    int64_t c0 = n_chunks * ith / nth, c1 = n_chunks * (ith + 1) / nth;
    int64_t b = std::min(n, c0 * grain), e = std::min(n, c1 * grain);
    if (b < e) fn(b, e);
  });
}

}  // namespace kvs
