// Engine: one thread owns the model's KV and runs continuous batching. Every kind of work is rows of the step's
// one forward: prefill chunks, decode, and the blend rows of semantic admissions (scoring chunks, then the
// selected rows), so a semantic admission never runs a forward of its own and never stalls the running streams
// beyond a step of max_batch_tokens rows.
//
// step(): cancellations -> queued KV evictions applied to the donor store -> waiting requests prepared (embedding,
// donor found, predicted compute) -> Scheduler::schedule (running first, then cache-aware admission through the
// SchedulerHost methods below) -> one model::forward over every scheduled row (per-sequence hooks for blending
// sequences) -> commit (advance, finish blends, publish, donate, sample, stream).
//
// Error boundary: an exception or error while serving one request (embedding, donor search, KV build, sampling,
// donation) fails that request with "error" (HTTP 500), frees its blocks and is logged; a failed forward is
// retried sequence by sequence, so only the sequences that fail alone are failed. The engine thread never dies
// of a request's fault.
//
// Invariants: only the engine thread touches sequences, the pool and the KV storage; a sequence's published
// blocks are never written; every finished, cancelled or failed request releases all its blocks at once; the
// donor store has seen every eviction before any donor is read (drained at the start of a step and after every
// allocation that may evict).
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "engine/metrics.h"
#include "engine/request_log.h"
#include "engine/request.h"
#include "engine/scheduler.h"
#include "engine/sequence.h"
#include "kv/kv_manager.h"
#include "model/model.h"
#include "share/donor_store.h"
#include "share/embedder/embedder.h"
#include "share/planner.h"
#include "store/disk_tier.h"
#include "store/redis_tier.h"
#include "tokenizer/tokenizer.h"

namespace kvs::engine {

struct FindDonorOptions;  // semantic_admission.h

// What one step's forward held (EngineConfig::on_step).
struct StepTrace {
  int64_t rows = 0;                 // rows of the forward
  int32_t sequences = 0;            // sequences with rows in it
  int64_t decode_rows = 0;          // rows past a prompt (generation)
  int64_t prefill_rows = 0;         // prompt rows of ordinary (prefix / full) prefill
  int64_t blend_score_rows = 0;     // semantic admissions' rows through layers 0..blend_layer
  int64_t blend_selected_rows = 0;  // their selected rows through every layer
  int32_t blend_sequences = 0;      // semantic admissions with rows in it
  int64_t repair_rows = 0;          // decode-stage repair rows
  double forward_ms = 0;
};

// A fault injected into the serving of requests whose share_text contains `marker` (error-boundary tests;
// `kvshare serve --inject-fault point:kind:marker`). point: "embed", "search", "admit", "forward", "sample",
// "donate"; kind: "throw" (std::runtime_error, as hnswlib throws), "oom" (std::bad_alloc), "status" (the step
// returns an error Status).
struct FaultSpec {
  std::string point, kind, marker;
  static Result<FaultSpec> parse(const std::string& spec);
};

struct EngineConfig {
  int64_t kv_cache_mib = 256;      // K/V memory budget
  int32_t block_size = 16;         // tokens per KV block
  DType kv_dtype = DType::kF16;    // K/V element type: f16 (half the memory: twice the blocks) or f32
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
  // Fragments from several donors: donors' block-aligned fragment_window-token windows are indexed, and what the
  // best donor does not provide is covered by runs of any donors of the domain (share/fragment_cover.h).
  bool fragments = false;  // off by default: one donor's fidelity needs the tail guard and budgets (docs/eval/)
  int32_t fragment_window = 16;    // tokens hashed per window; also the shortest fragment run used
  int32_t fragment_tail = 0;       // final gap guarded from fragments within the last N tokens (tail_guard)
  // Run retrieval (share/run_retrieval.h): before embedding a request, look for a donor by the token runs it
  // shares with the prompt (the fragment index, kept whenever this is on); one whose alignment keeps at least
  // this share of the prompt is taken without embedding (the embedding a donation needs is computed when the
  // request donates, after its first token). 0 = off: every request is embedded first.
  double run_retrieval = 0.0;
  share::DeviationScorer deviation = share::DeviationScorer::kKv;  // how reused tokens are ranked (see there)
  // Gradual filtering (Blend's kRefine): 0 = off; else the selection at blend_layer keeps refine_widen x k
  // candidates and this later layer's deviation keeps the top k of them.
  int32_t refine_layer = 0;
  double refine_widen = 2.0;
  bool cache_aware = true;           // admit the waiting request with the smallest predicted compute first
  double max_wait_beyond_fifo_s = 2.0;  // ... unless one has waited longer than this (then FIFO)
  int32_t max_prepare_per_step = 4;  // waiting requests embedded + matched to a donor per step
  // Decode-stage repair (KVShare's dual stage): after a semantic admission, up to this many spare rows per step
  // recompute the sequence's approximate rows in position order until its KV equals full computation; then it
  // is exact (publishes its blocks, may donate). 0 = off.
  int32_t repair_rows = 0;
  // Background repair (new content becomes reusable): a semantic request's prompt is approximate, so it never
  // donates. With this > 0, once such a request has finished the engine keeps its blocks and, only while nothing
  // runs or waits, recomputes its approximate prompt rows in position order (this many per step); the exact
  // prompt then publishes its blocks and donates, and retires its own donor when it contained all of it. A
  // waiting request or a dry pool drops every pending repair first: it never costs a request latency or blocks.
  int32_t background_repair_rows = 0;
  int32_t max_background = 8;  // finished prompts kept for background repair (oldest dropped first)
  // Disk tier (engine_disk.cpp): with a directory, every donation is also written to segment files there
  // (write-on-donate), a donor or prefix block evicted from RAM is promoted back from disk when a request needs
  // it, and a restarted engine rebuilds its disk index from the segments. Empty: RAM only.
  std::string disk_cache_dir;
  double disk_cache_gib = 4.0;                   // segment bytes kept on disk (oldest segments deleted first)
  uint64_t disk_segment_bytes = uint64_t{64} << 20;
  bool disk_fsync = true;                        // fdatasync after each donation's records
  // Redis tier (store/redis_tier.h, engine_tiers.cpp): with a URL (redis://HOST:PORT[/DB]) every donation is
  // also written to Redis and announced there; donors other instances wrote join this engine's search, and
  // their blocks are fetched when the cost model predicts fetching beats recomputing. Empty: no Redis.
  std::string redis_url;
  double redis_ttl_s = 86400;                    // TTL of every key written
  double redis_max_mib = 1024;                   // this instance's bytes in Redis (oldest keys deleted first)
  int32_t redis_timeout_ms = 200;                // per command (connect: half of it)
  // Test and benchmark seams (engine thread; keep them cheap).
  std::function<void(const StepTrace&)> on_step;  // after every forward
  std::vector<FaultSpec> faults;                // injected faults (see FaultSpec)

  // InvalidArgument naming the first bad field (blend_layer against the model, budgets, planner).
  Status validate(int64_t n_layer) const;
};



class Engine : private SchedulerHost {
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
  // Ok, or why the disk tier asked for by EngineConfig::disk_cache_dir could not be opened (the engine then
  // runs RAM only; the CLI refuses to serve).
  const Status& disk_status() const { return disk_status_; }
  // Ok, or why the Redis tier asked for by EngineConfig::redis_url could not be set up (a bad URL; a Redis
  // that is down is not an error: the tier reconnects in the background).
  const Status& redis_status() const { return redis_status_; }
  // Waits until every queued disk and Redis write is done (tests, shutdown). No-op without tiers.
  void flush_disk();
  const EngineConfig& config() const { return cfg_; }
  int64_t max_context() const { return max_ctx_; }
  const model::Model& model() const { return model_; }
  const tok::Tokenizer& tokenizer() const { return tok_; }
  // The most recent finished requests with their sharing traces (the dashboard). Thread-safe.
  const RequestLog& request_log() const { return requests_; }

 private:
  struct Batch;  // one forward's inputs (engine.cpp)

  void loop();
  bool step();
  void fail_cancelled();
  void run_batch(std::span<const ScheduledRows> rows);
  Status build_batch(std::span<const ScheduledRows> rows, Batch& b);
  Status run_forward(Batch& b, std::vector<float>& logits);
  Status forward_only(std::span<const ScheduledRows> rows);  // builds and runs rows that need no logits
  void commit(std::span<const ScheduledRows> rows, std::span<float> logits);
  void commit_prompt_rows(Sequence& seq, int64_t take);
  void commit_repair(Sequence& seq, int64_t repair, int64_t take);
  void finish(Sequence& seq, const std::string& reason, const Status& error = Status::ok());
  void fail(Sequence& seq, const std::string& where, const std::exception& e);
  void record_finished(const Sequence& seq, const std::string& reason);  // into requests_ (never throws)
  void emit_token(Sequence& seq, int32_t token, std::vector<float> first_logits = {},
                  std::optional<TokenLogprob> lp = std::nullopt);
  int64_t score_prompt_rows(Sequence& seq, int64_t take, std::span<const float> logits);
  void attach_prompt_logprobs(Sequence& seq, StreamEvent& ev);
  void reap_finished();
  void update_gauges();
  void trace_step(std::span<const ScheduledRows> rows, double forward_ms);
  // Throws / fails as configured when `seq` matches an injected fault at `point` (no-op without faults).
  Status inject(const char* point, const Sequence& seq) const;

  // SchedulerHost (engine_admission.cpp).
  bool reserve(Sequence& seq, int64_t take) override;
  void preempt(Sequence& seq) override;
  AdmitResult admit(Sequence& seq, int64_t budget) override;

  // Admission steps (engine_admission.cpp).
  void drain_evictions();
  void prepare_waiting();
  void prepare(Sequence& seq);
  FindDonorOptions find_options(const Sequence& seq) const;
  void set_donor(Sequence& seq, DonorChoice choice);
  bool admit_semantic(Sequence& seq);
  AdmitResult admit_prefix(Sequence& seq, int64_t budget);
  void set_tier(ShareReport& rep, const Sequence& seq, int64_t promoted, int64_t redis);
  void finish_blend(Sequence& seq);
  void publish(Sequence& seq);  // its exact, shareable blocks into the prefix cache (donation policy applied)
  void maybe_donate(Sequence& seq);
  // Background repair (engine_background.cpp).
  bool wants_background(const Sequence& seq, const std::string& reason) const;
  void keep_background();        // moves finished sequences that want it from running_ to background_
  bool drop_background();        // releases every pending one; true if any
  bool step_background();        // one repair step of the oldest (idle engine only); true if it ran
  std::vector<float> donor_embedding(Sequence& seq);
  // Tiers (engine_disk.cpp: disk; engine_tiers.cpp: Redis, promotion from any tier).
  const store::SegmentIdentity& store_identity();
  void open_disk_tier();
  void open_redis_tier();
  void observe_prefill(int64_t rows, double forward_ms);  // the prefill-speed EWMA of the cost model
  // Prices the `remote` blocks a promotion would fetch from Redis; records the decision on seq.
  bool remote_fetch_pays(Sequence& seq, int64_t remote);
  void demote_donor(uint64_t ram_id, uint64_t domain, std::span<const int32_t> prompt,
                    std::span<const kv::BlockId> blocks, std::span<const float> embedding);
  void promote_donor(Sequence& seq);   // the best stored donor for seq's embedding, back into the pool
  void promote_prefix(Sequence& seq);  // seq's leading prompt blocks stored on disk, back into the pool
  // Reads one stored block into a fresh pool block and caches it under its key; nullopt on a miss / failure.
  // remote_ok: the Redis tier may supply it. seq's promoted / redis block counts are updated.
  std::optional<kv::BlockId> promote_block(const kv::BlockKey& key, std::span<const int32_t> tokens, bool remote_ok,
                                           Sequence& seq);
  void add_disk_metrics(MetricsSnapshot& s) const;
  void add_redis_metrics(MetricsSnapshot& s) const;
  void remember_ram_donor(uint64_t content_key, uint64_t ram_id);

  const model::Model& model_;
  const tok::Tokenizer& tok_;
  EngineConfig cfg_;
  int64_t max_ctx_ = 0;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<kv::KvManager> kv_;
  const share::Embedder* embedder_ = nullptr;
  std::unique_ptr<share::DonorStore> donors_;
  std::unique_ptr<store::DiskTier> disk_;
  Status disk_status_;
  std::unique_ptr<store::RedisTier> redis_;
  Status redis_status_;
  std::optional<store::SegmentIdentity> store_id_;  // what stored blocks are valid for (store_identity())
  std::vector<store::Tier*> tiers_;  // disk first (local), then Redis
  double prefill_tps_ = 0;           // EWMA of prompt rows per second of recent prefill steps (engine thread)
  std::unordered_map<uint64_t, uint64_t> ram_donor_of_;  // disk donor content key -> RAM donor id (engine thread)
  EngineMetrics metrics_;
  RequestLog requests_;
  Scheduler sched_;
  uint64_t donor_generation_ = 1;  // bumped when donors are added or truncated: a waiting request's donor is stale

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
  std::deque<std::unique_ptr<Sequence>> background_;  // finished, approximate prompts awaiting idle repair
  std::thread thread_;
};

}  // namespace kvs::engine
