// ConnectionQueue: the httplib::TaskQueue of the HTTP server: a fixed pool of worker threads and a bounded queue
// of accepted connections. When the queue is full, the accept thread runs the connection itself in
// reject mode (ConnectionQueue::rejecting() is true during the call): the connection is answered 503 and closed
// at once, so a flood of connections never grows memory or blocks the accept loop.
//
// Invariants: at most `capacity` connections wait; every enqueued task runs exactly once (on a worker, or inline
// in reject mode), including those still queued at shutdown().
#pragma once
#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kvs::server {

class ConnectionQueue final : public httplib::TaskQueue {
 public:
  ConnectionQueue(size_t n_threads, size_t capacity);
  ~ConnectionQueue() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  // True on the calling thread while it runs a task that did not fit in the queue.
  static bool rejecting();

 private:
  void work();

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;                        // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace kvs::server
