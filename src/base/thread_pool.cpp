#include "base/thread_pool.h"

#include <algorithm>
#include <immintrin.h>

namespace kvs {

namespace {
// Claim index of a finished chunk job: above any chunk count (n < 2^32), so no stale claim word matches it.
constexpr uint64_t kClosed = 0xFFFFFFFFu;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
    const uint64_t gen = (generation_.load() >> 1) + 1;
    claim_.store(gen << 32);
    generation_.store(gen << 1);
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
    if (seen & 1) {
      run_chunks(seen >> 1);
    } else {
      (*job_.load(std::memory_order_acquire))(ith, n_threads_);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

void ThreadPool::publish(bool chunks) {
  std::lock_guard<std::mutex> lk(mu_);
  const uint64_t gen = (generation_.load(std::memory_order_relaxed) >> 1) + 1;
  claim_.store(gen << 32, std::memory_order_release);
  generation_.store(gen << 1 | (chunks ? 1 : 0), std::memory_order_release);
}

void ThreadPool::run_chunks(uint64_t gen) {
  const uint64_t tag = gen << 32;
  uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    if ((c & ~uint64_t{0xFFFFFFFF}) != tag) return;  // a newer job
    const int64_t i = static_cast<int64_t>(c & 0xFFFFFFFF);
    if (i >= chunk_n_.load(std::memory_order_acquire)) return;
    if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    // Chunk i of this generation is ours: the owner waits for it, so the job stays valid until we finish.
    (*chunk_fn_.load(std::memory_order_acquire))(i);
    chunks_done_.fetch_add(1, std::memory_order_acq_rel);
    c = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::parallel_for(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  job_.store(&fn, std::memory_order_relaxed);
  pending_.store(n_threads_ - 1, std::memory_order_release);
  publish(false);
  cv_.notify_all();
  fn(0, n_threads_);
  // Spin briefly, then yield: on a loaded machine a descheduled worker needs this core to finish.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 4000) _mm_pause();
    else std::this_thread::yield();
  }
}

void ThreadPool::parallel_chunks(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  // The previous chunk job left claim_ closed (index kClosed), so a worker still holding that job's last claim
  // word cannot claim a phantom chunk against the new chunk_n_ (release: whoever reads the new value also sees
  // the closed claim word).
  chunk_fn_.store(&fn, std::memory_order_release);
  chunk_n_.store(n, std::memory_order_release);
  chunks_done_.store(0, std::memory_order_release);
  publish(true);
  cv_.notify_all();
  const uint64_t gen = generation_.load(std::memory_order_relaxed) >> 1;
  run_chunks(gen);
  for (int spins = 0; chunks_done_.load(std::memory_order_acquire) != n; ++spins) {
    if (spins < 4000) _mm_pause();
    else std::this_thread::yield();
  }
  claim_.store(gen << 32 | kClosed, std::memory_order_release);
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
