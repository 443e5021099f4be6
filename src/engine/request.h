// A request as the engine sees it, and the handle its submitter reads results from.
// RequestHandle is the only object shared between the engine thread and a client thread: its event queue and
// cancel flag are synchronised; everything else about a request lives on the engine thread (Sequence).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/sampler.h"

namespace kvs::engine {

struct RequestParams {
  std::vector<int32_t> prompt;     // token ids (chat template already applied)
  SamplingParams sampling;
  int32_t max_tokens = 256;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  uint64_t domain = 0;             // share domain: salts every cache key (set by the server, never the client)
  std::string tenant;              // for logs and metrics
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;       // prompt tokens whose KV was reused, not computed
  int64_t computed_prompt_tokens = 0;
  double queue_ms = 0;             // submit -> first scheduled
  double ttft_ms = 0;              // submit -> first token
  double total_ms = 0;
  int32_t preemptions = 0;
};

struct StreamEvent {
  std::string text;                // new text (UTF-8 complete, stop strings held back)
  std::vector<int32_t> tokens;     // token ids behind this text
  bool finished = false;
  std::string finish_reason;       // "stop", "length", "cancelled", "error"
  Usage usage;                     // final on the finished event
  Status error;                    // non-ok when finish_reason == "error"
};

class RequestHandle {
 public:
  explicit RequestHandle(uint64_t id) : id_(id), created_(std::chrono::steady_clock::now()) {}
  uint64_t id() const { return id_; }
  std::chrono::steady_clock::time_point created() const { return created_; }

  // Client side: blocks until an event is available or the timeout passes (nullopt).
  std::optional<StreamEvent> next(std::chrono::milliseconds timeout);
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

  // Engine side.
  void push(StreamEvent ev);

 private:
  const uint64_t id_;
  const std::chrono::steady_clock::time_point created_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;  // GUARDED_BY(mu_)
};

}  // namespace kvs::engine
