// EngineMetrics: counters and latency histograms the engine updates and the server renders (Prometheus text).
// Thread-safe: the engine thread writes, any thread may take a snapshot.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace kvs::engine {

// Histogram over fixed, ascending bucket bounds: counts[i] holds observations in (bounds[i-1], bounds[i]], the
// last one those above every bound (+Inf). Latencies use kSeconds (1 ms .. 20 min, so long prefills and queues on
// a CPU are not all lumped into +Inf), lengths kTokens (1-2-5 steps, as vLLM).
struct Histogram {
  static constexpr std::array<double, 20> kSeconds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,   0.25,  0.5,  1.0,
                                                      2.5,   5.0,    10.0,  20.0, 30.0,  60.0, 120.0, 300.0, 600.0, 1200.0};
  static constexpr std::array<double, 16> kTokens = {1,    2,    5,     10,    20,    50,    100,   200,
                                                     500,  1000, 2000,  5000,  10000, 20000, 50000, 100000};
  Histogram() : Histogram(kSeconds) {}
  explicit Histogram(std::span<const double> b) : bounds(b), counts(b.size() + 1, 0) {}
  std::span<const double> bounds;  // static storage
  std::vector<uint64_t> counts;    // (bounds.size() + 1), last = +Inf
  double sum = 0;
  uint64_t count = 0;
  void observe(double value);
};

struct MetricsSnapshot {
  uint64_t requests_total = 0, requests_finished = 0, requests_cancelled = 0, requests_rejected = 0,
           requests_failed = 0, preemptions = 0;
  uint64_t prompt_tokens = 0, generation_tokens = 0, computed_prompt_tokens = 0;
  uint64_t prefix_queries = 0, prefix_hits = 0, prefix_cached_tokens = 0;  // lookups, lookups that hit, tokens hit
  uint64_t prefix_query_tokens = 0;  // prompt tokens looked up in the prefix cache (vLLM's prefix_cache_queries)
  uint64_t finished_stop = 0, finished_length = 0;  // requests_finished by reason
  // Requests whose prompt was computed, by how: full prefill, exact prefix reuse, semantic reuse, or a semantic
  // plan the quality guard turned into a full prefill.
  uint64_t mode_full = 0, mode_prefix = 0, mode_semantic = 0, mode_fell_back = 0;
  uint64_t semantic_queries = 0, semantic_hits = 0, semantic_reused_tokens = 0, semantic_recomputed_tokens = 0,
           semantic_fallbacks = 0;
  uint64_t run_retrievals = 0;  // semantic lookups answered by shared token runs, without an embedding
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
  // Redis tier (engine_tiers.cpp): its counters, and the cost model's fetch-vs-recompute decisions.
  uint64_t tier_hits_redis = 0;
  uint64_t redis_bytes_written = 0, redis_bytes_read = 0, redis_blocks_written = 0, redis_blocks_read = 0;
  uint64_t redis_donors_written = 0, redis_donors_learned = 0, redis_misses = 0, redis_corrupt_records = 0;
  uint64_t redis_errors = 0, redis_dropped_donations = 0, redis_keys_evicted = 0;
  uint64_t redis_decisions_fetch = 0, redis_decisions_recompute = 0;
  int64_t redis_usage_bytes = 0, redis_blocks = 0, redis_donors = 0;
  double redis_fetch_bytes_per_s = 0, prefill_tokens_per_s = 0;
  bool redis_enabled = false, redis_up = false;
  Histogram ttft, inter_token, e2e;
  Histogram disk_fetch;   // one block read back from the disk tier (seconds)
  Histogram redis_fetch;  // one block fetched from the Redis tier (seconds)
  Histogram queue_time, prefill_time, decode_time;  // submit -> first scheduled -> first token -> finish
  Histogram prompt_len{Histogram::kTokens}, generation_len{Histogram::kTokens};  // per finished request
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
