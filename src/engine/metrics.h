// EngineMetrics: counters and latency histograms the engine updates and the server renders (Prometheus text).
// Thread-safe: the engine thread writes, any thread may take a snapshot.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>

namespace kvs::engine {

// Cumulative histogram over fixed bucket bounds (seconds).
struct Histogram {
  static constexpr std::array<double, 14> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};
  std::array<uint64_t, kBounds.size() + 1> counts{};  // last = +Inf
  double sum = 0;
  uint64_t count = 0;
  void observe(double seconds);
};

struct MetricsSnapshot {
  uint64_t requests_total = 0, requests_finished = 0, requests_cancelled = 0, requests_rejected = 0,
           requests_failed = 0, preemptions = 0;
  uint64_t prompt_tokens = 0, generation_tokens = 0, computed_prompt_tokens = 0;
  uint64_t prefix_queries = 0, prefix_hits = 0, prefix_cached_tokens = 0;
  uint64_t semantic_queries = 0, semantic_hits = 0, semantic_reused_tokens = 0, semantic_recomputed_tokens = 0,
           semantic_fallbacks = 0;
  uint64_t steps = 0, batched_rows = 0;
  uint64_t repair_rows = 0, repaired_sequences = 0;  // decode-stage repair (and background repair's rows)
  uint64_t background_repairs = 0, background_dropped = 0;  // finished prompts repaired while idle / dropped
  int64_t background_pending = 0;
  int64_t donors = 0, donors_retired = 0;  // live donors; donors retired because a newer one contained them
  int64_t running = 0, waiting = 0;
  int64_t kv_blocks_total = 0, kv_blocks_free = 0, kv_blocks_cached = 0, kv_block_size = 0;
  // Tiers: admissions that reused cached KV, by where its blocks came from ("ram": all resident; "disk": some
  // promoted from the disk tier for this request), and the disk tier's own counters (engine_disk.cpp).
  uint64_t tier_hits_ram = 0, tier_hits_disk = 0;
  uint64_t disk_bytes_written = 0, disk_bytes_read = 0, disk_demotions = 0, disk_promotions = 0;
  uint64_t disk_corrupt_records = 0, disk_write_errors = 0, disk_segments_skipped = 0;
  int64_t disk_usage_bytes = 0, disk_blocks = 0, disk_donors = 0;
  bool disk_enabled = false;
  Histogram ttft, inter_token, e2e;
  Histogram disk_fetch;  // one block read back from the disk tier (seconds)
};

class EngineMetrics {
 public:
  template <typename F>
  void update(F&& f) {
    std::lock_guard<std::mutex> lk(mu_);
    f(s_);
  }
  MetricsSnapshot snapshot() const {
    std::lock_guard<std::mutex> lk(mu_);
    return s_;
  }

 private:
  mutable std::mutex mu_;
  MetricsSnapshot s_;  // GUARDED_BY(mu_)
};

}  // namespace kvs::engine
