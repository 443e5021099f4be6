// Scheduler: decides, each step, which rows of which sequences run in the step's one forward (vLLM v1 style: it
// only counts rows per sequence; prefill chunks, decode, blend scoring and blend-selected rows are all "rows").
// Pure: no model, no KV memory of its own; blocks and admission go through SchedulerHost, so tests drive it with
// fake sequences and a fake pool.
//
// The budget counts compute, in row-layers: max_batch_tokens full rows (n_layer each). An ordinary row (prefill,
// decode, repair, a blend's selected row) costs n_layer; a blend scoring row only runs layers 0..L and costs L + 1
// (Sequence::row_cost), so a semantic admission's scoring chunks cost a fraction of a prefill's. No sequence gets
// more than max_batch_tokens rows in one step (chunks stay within it).
//
// One schedule() call:
//  1. running sequences, oldest first: each gets min(pending rows, budget left) rows, after host.reserve() made
//     room for them; when the pool is dry the newest running sequence is preempted (host.preempt: blocks freed,
//     back to the front of the waiting queue) until the reserve succeeds or the sequence itself is the newest
//     (then it yields);
//  2. waiting sequences while budget, running slots and blocks last, in this order:
//     - the FIFO head (the oldest live waiting sequence) when it was preempted (it has a stream open) or has been
//       the head, passed over, for longer than max_wait_beyond_fifo: the age cap. So the oldest request is never
//       delayed more than that beyond its FIFO turn (its FIFO turn comes when everything older was admitted);
//     - otherwise cache-aware (KVShare's scheduler): the sequence with the smallest predicted compute
//       (Sequence::predicted_rows: prompt rows not covered by a prefix hit or a donor), ties in arrival order;
//       with cache_aware = false, plain FIFO;
//     host.admit() builds its KV (prefix blocks, donor copy) and reserves its first rows; kNoBlocks stops
//     admission for this step (a request is never overtaken for lack of blocks once it is first in line), kFailed
//     (the request was failed by the host) moves on;
//  3. decode-stage repair in the budget left over: each running approximate sequence (oldest first) gets up to
//     repair_rows rows of its repair backlog (Sequence::repair_backlog: rows computed over reused KV, recomputed
//     in position order until the sequence's KV equals full computation). Repair rows need no new blocks.
// Invariants: the cost handed out never exceeds the budget (but for a blend whose guard falls back inside its one
// chunk: its rows then all continue past layer L); at most max_running sequences run; a sequence is
// in exactly one of running / waiting; every scheduled row was reserved before it is returned; a sequence marked
// done is never scheduled.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "engine/sequence.h"

namespace kvs::engine {

struct SchedulerConfig {
  int32_t max_batch_tokens = 512;  // rows per step
  int32_t max_running = 64;        // sequences running at once
  bool cache_aware = true;         // smallest predicted compute first (else FIFO)
  double max_wait_beyond_fifo_s = 2.0;  // age cap: after this long waiting, FIFO order wins
  int32_t repair_rows = 0;         // decode-stage repair: spare rows per approximate sequence per step (0 = off)
  int32_t n_layer = 1;             // the model's layers: the budget is max_batch_tokens * n_layer row-layers
};

enum class AdmitResult : uint8_t { kAdmitted, kNoBlocks, kFailed };

class SchedulerHost {
 public:
  virtual ~SchedulerHost() = default;
  // Makes room for `take` more rows of a running sequence. false: the pool cannot supply the blocks now.
  virtual bool reserve(Sequence& seq, int64_t take) = 0;
  // Frees the sequence's blocks; it will recompute later (the scheduler moves it to the waiting front).
  virtual void preempt(Sequence& seq) = 0;
  // Readies a waiting sequence to run at most `budget` rows now: its KV (shared prefix, donor copy) and the
  // blocks of its first rows. kNoBlocks leaves it as it was.
  virtual AdmitResult admit(Sequence& seq, int64_t budget) = 0;
};

struct ScheduledRows {
  Sequence* seq = nullptr;
  int64_t take = 0;    // rows of this sequence in this step (prefill, decode, blend)
  int64_t repair = 0;  // decode-stage repair rows, positions [repair_pos, repair_pos + repair), before `take`'s
};

struct Schedule {
  std::vector<ScheduledRows> rows;  // running order (admitted ones last)
  int64_t n_rows = 0;     // every row, repair included
  int32_t n_preempted = 0;
  int32_t n_admitted = 0;
};

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Scheduler(const SchedulerConfig& cfg) : cfg_(cfg) {}
  const SchedulerConfig& config() const { return cfg_; }

  int64_t budget_units() const { return static_cast<int64_t>(cfg_.max_batch_tokens) * cfg_.n_layer; }
  Schedule schedule(std::vector<std::unique_ptr<Sequence>>& running, std::deque<std::unique_ptr<Sequence>>& waiting,
                    SchedulerHost& host, Clock::time_point now) const;

  // Index into `waiting` of the sequence to admit next (skips done ones; -1 if none). Marks when the FIFO head
  // became the head (Sequence::fifo_head_since), which the age cap reads.
  int64_t pick_waiting(std::deque<std::unique_ptr<Sequence>>& waiting, Clock::time_point now) const;

 private:
  void charge(Schedule& out, Sequence* seq, int64_t take, int64_t& budget) const;
  void schedule_repair(std::vector<std::unique_ptr<Sequence>>& running, Schedule& out, int64_t& budget) const;
  void schedule_running(std::vector<std::unique_ptr<Sequence>>& running,
                        std::deque<std::unique_ptr<Sequence>>& waiting, SchedulerHost& host, Schedule& out,
                        int64_t& budget) const;
  SchedulerConfig cfg_;
};

}  // namespace kvs::engine
