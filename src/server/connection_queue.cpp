// ConnectionQueue: see connection_queue.h.
#include "server/connection_queue.h"

#include <cstdio>
#include <exception>

namespace kvs::server {
namespace {
thread_local bool t_rejecting = false;

// A connection's task never takes its thread (or the process) down with it.
void run_guarded(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvshare serve: http: connection failed: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "kvshare serve: http: connection failed: unknown exception\n");
  }
}
}  // namespace

ConnectionQueue::ConnectionQueue(size_t n_threads, size_t capacity) : capacity_(capacity) {
  threads_.reserve(n_threads);
  for (size_t i = 0; i < n_threads; ++i) threads_.emplace_back([this] { work(); });
}

ConnectionQueue::~ConnectionQueue() { shutdown(); }

bool ConnectionQueue::rejecting() { return t_rejecting; }

void ConnectionQueue::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!stop_ && queue_.size() < capacity_) {
      queue_.push_back(std::move(fn));
      cv_.notify_one();
      return;
    }
  }
  t_rejecting = true;  // full (or shutting down): answer and close on this thread
  run_guarded(fn);
  t_rejecting = false;
}

void ConnectionQueue::shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_ && threads_.empty()) return;
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void ConnectionQueue::work() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    run_guarded(fn);
  }
}

}  // namespace kvs::server
