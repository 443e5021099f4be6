// ThreadPool: a fixed set of workers for data-parallel loops (ggml style).
// Invariants: parallel_for runs fn(thread_index, n_threads) exactly once per thread index in [0, n_threads)
// and returns only after all calls finished; parallel_chunks runs fn(i) exactly once for every i in [0, n), on
// whichever threads claim i first, and returns once all n calls finished (a worker that has not claimed anything
// yet is not waited for: on a loaded machine a descheduled worker costs its chunks, never a whole time slice per
// call). Calls are not reentrant (one at a time, from the owner thread). Workers spin briefly between jobs (decode
// issues hundreds of small jobs per token), then sleep.
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
  // Runs fn(i) for every i in [0, n), handing the indices out dynamically (REQUIRES: n < 2^32). fn must not
  // depend on which thread runs it except through thread-local scratch.
  void parallel_chunks(int64_t n, const std::function<void(int64_t i)>& fn);

  static int default_threads();  // hardware concurrency, at least 1

 private:
  void worker_loop(int ith);
  void publish(bool chunks);
  // Claims and runs chunks of generation `gen` until none is left (or the generation has moved on).
  void run_chunks(uint64_t gen);

  int n_threads_;
  std::vector<std::thread> workers_;
  // The current job: parallel_for's fn (every thread runs it; pending_ counts the workers still in it), or
  // parallel_chunks' fn over [0, chunk_n_). generation_ = (job number << 1) | 1 for a chunk job (one atomic, so a
  // worker never pairs one job's number with another's kind). claim_ = (job number << 32) | next unclaimed chunk:
  // a worker that read an old job number fails its claim and never touches a newer job's fn. When a chunk job
  // ends its owner closes claim_ (index 0xFFFFFFFF) before chunk_n_ changes: a worker that loaded the old claim
  // word (old tag, index = old n) and then reads the next job's larger chunk_n_ fails its CAS instead of running
  // a phantom chunk (that race ran a dead fn and over-counted chunks_done_: crashes and hangs, fixed 2026-12-02).
  std::atomic<const std::function<void(int, int)>*> job_{nullptr};
  std::atomic<const std::function<void(int64_t)>*> chunk_fn_{nullptr};
  std::atomic<int64_t> chunk_n_{0};
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> chunks_done_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace kvs
