// Engine: one thread owns the model's KV and runs continuous batching (vLLM v1 style: the scheduler only counts
// tokens per request; prefill, chunked prefill and decode are rows of the same forward).
//
// Each step: running sequences first (oldest first), each gets min(pending rows, remaining budget) rows; when the
// pool cannot supply their blocks, the newest running sequence is preempted (blocks freed, recomputed later).
// Then waiting sequences are admitted in arrival order while budget and blocks last; admission first adopts the
// cached blocks of the longest matching prefix in the request's share domain. One forward runs all rows.
//
// Invariants: only the engine thread touches sequences, the pool and the KV storage; a sequence's published
// blocks are never written; every finished, cancelled or failed request releases all its blocks at once.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "engine/metrics.h"
#include "engine/request.h"
#include "engine/sequence.h"
#include "kv/kv_manager.h"
#include "model/model.h"
#include "share/donor_store.h"
#include "share/embedder/embedder.h"
#include "share/planner.h"
#include "tokenizer/tokenizer.h"

namespace kvs::engine {

struct EngineConfig {
  int64_t kv_cache_mib = 256;      // K/V memory budget
  int32_t block_size = 16;         // tokens per KV block
  int32_t max_batch_tokens = 512;  // rows per step (chunked prefill budget)
  int32_t max_running = 64;        // sequences decoding at once
  int32_t max_waiting = 256;       // queue length before submit() refuses (HTTP 429)
  int32_t n_threads = 0;           // 0 = all cores
  bool prefix_cache = true;
  bool semantic = true;            // semantic KV sharing (needs an embedder and the prefix cache)
  share::PlannerConfig planner;    // recompute ratio, thresholds, guard
  int32_t donor_candidates = 4;    // ANN candidates re-ranked by alignment
  int32_t max_donors = 4096;
  int32_t max_edit_distance = 1024;
  int32_t blend_layer = 1;         // layer whose K/V deviation selects the rows to recompute (0-based)
  share::DeviationScorer deviation = share::DeviationScorer::kKv;  // how reused tokens are ranked (see there)
};

class Engine {
 public:
  // embedder may be null (no semantic sharing).
  Engine(const model::Model& model, const tok::Tokenizer& tokenizer, const EngineConfig& cfg,
         const share::Embedder* embedder = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // InvalidArgument for a request that can never run (empty, too long for the context or the KV pool);
  // ResourceExhausted when the queue is full or the engine is shutting down.
  Result<std::shared_ptr<RequestHandle>> submit(RequestParams params);

  // Stops accepting; with cancel_inflight cancels running and queued requests, else lets them finish; joins.
  void shutdown(bool cancel_inflight);

  MetricsSnapshot metrics() const;
  const EngineConfig& config() const { return cfg_; }
  int64_t max_context() const { return max_ctx_; }
  const model::Model& model() const { return model_; }
  const tok::Tokenizer& tokenizer() const { return tok_; }

 private:
  struct Planned {
    Sequence* seq;
    int64_t take;
  };
  void loop();
  bool step();
  void preempt(std::unique_ptr<Sequence>& seq);
  void finish(Sequence& seq, const std::string& reason, const Status& error = Status::ok());
  void emit_token(Sequence& seq, int32_t token);
  void reap_finished();
  void update_gauges();
  // Semantic admission: plans donor reuse for a fresh sequence and, when chosen, builds its KV (prefix blocks
  // shared, donor runs copied and re-rotated) and runs the selective-recompute forward. Returns true when the
  // sequence's prompt is complete and its first token was emitted.
  bool try_semantic(Sequence& seq);
  void maybe_donate(Sequence& seq);

  const model::Model& model_;
  const tok::Tokenizer& tok_;
  EngineConfig cfg_;
  int64_t max_ctx_ = 0;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<kv::KvManager> kv_;
  const share::Embedder* embedder_ = nullptr;
  std::unique_ptr<share::DonorStore> donors_;
  EngineMetrics metrics_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sequence>> inbox_;  // GUARDED_BY(mu_)
  bool accepting_ = true;                         // GUARDED_BY(mu_)
  bool stopping_ = false;                         // GUARDED_BY(mu_)
  bool cancel_all_ = false;                       // GUARDED_BY(mu_)
  std::atomic<uint64_t> next_id_{1};
  std::atomic<int64_t> n_waiting_{0};             // waiting_.size(), published by the engine thread

  // Engine thread only.
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;
  std::vector<Sequence*> finished_;
  std::thread thread_;
};

}  // namespace kvs::engine
