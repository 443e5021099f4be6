// Scheduler alone: fake sequences (no model) and a fake host that counts blocks.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "engine/scheduler.h"

namespace kvs::engine {
namespace {

using Clock = std::chrono::steady_clock;

// A pool of `free_blocks` blocks of 4 slots; a sequence holds ceil((n_computed + take) / 4) blocks once reserved.
struct FakeHost : SchedulerHost {
  int64_t free_blocks = 1000;
  std::map<const Sequence*, int64_t> held;  // blocks per sequence
  std::vector<uint64_t> preempted, admitted;
  std::set<uint64_t> fail_ids;              // admit() fails these requests
  static int64_t blocks(int64_t slots) { return (slots + 3) / 4; }
  bool grow(Sequence& s, int64_t slots) {
    const int64_t need = blocks(slots) - held[&s];
    if (need > free_blocks) return false;
    free_blocks -= std::max<int64_t>(need, 0);
    held[&s] += std::max<int64_t>(need, 0);
    return true;
  }
  bool reserve(Sequence& s, int64_t take) override { return grow(s, s.n_computed + take); }
  void preempt(Sequence& s) override {
    free_blocks += held[&s];
    held[&s] = 0;
    s.n_computed = 0;
    ++s.usage.preemptions;
    preempted.push_back(s.handle->id());
  }
  AdmitResult admit(Sequence& s, int64_t budget) override {
    if (fail_ids.count(s.handle->id())) {
      s.done = true;
      return AdmitResult::kFailed;
    }
    if (!grow(s, s.n_computed + std::min(s.pending_rows(), budget))) return AdmitResult::kNoBlocks;
    admitted.push_back(s.handle->id());
    return AdmitResult::kAdmitted;
  }
};

std::unique_ptr<Sequence> seq(uint64_t id, int n_prompt, int64_t predicted = -1) {
  RequestParams p;
  p.prompt.assign(n_prompt, 1);
  p.max_tokens = 8;
  auto s = std::make_unique<Sequence>(std::make_shared<RequestHandle>(id), std::move(p));
  if (predicted >= 0) s->predicted_rows = predicted;
  return s;
}

// Applies a schedule as the engine would after the forward: every scheduled row is computed.
void advance(const Schedule& s) {
  for (const auto& r : s.rows) r.seq->n_computed += r.take;
}

int64_t rows_of(const Schedule& s, uint64_t id) {
  for (const auto& r : s.rows) if (r.seq->handle->id() == id) return r.take;
  return 0;
}

TEST(Scheduler, RunningFirstThenChunkedAdmissionWithinBudget) {
  Scheduler sch({/*max_batch_tokens=*/16, /*max_running=*/8, /*cache_aware=*/false, 2.0});
  FakeHost host;
  std::vector<std::unique_ptr<Sequence>> running;
  std::deque<std::unique_ptr<Sequence>> waiting;
  running.push_back(seq(1, 4));
  running[0]->n_computed = 4;
  running[0]->tokens.push_back(7);  // decoding: one row pending
  waiting.push_back(seq(2, 40));
  const auto now = Clock::now();
  auto s = sch.schedule(running, waiting, host, now);
  EXPECT_EQ(s.n_rows, 16);
  EXPECT_EQ(rows_of(s, 1), 1);
  EXPECT_EQ(rows_of(s, 2), 15);  // chunked by the budget
  ASSERT_EQ(running.size(), 2u);
  EXPECT_TRUE(waiting.empty());
  advance(s);
  // The long prompt keeps coming in chunks no larger than the budget, beside the decode row.
  int64_t steps = 1;
  while (running[1]->pending_rows() > 0 && steps < 100) {
    running[0]->tokens.push_back(7);
    s = sch.schedule(running, waiting, host, now);
    EXPECT_LE(s.n_rows, 16);
    EXPECT_EQ(rows_of(s, 1), 1);
    advance(s);
    ++steps;
  }
  EXPECT_EQ(running[1]->n_computed, 40);
  EXPECT_EQ(steps, 3);  // 15 + 15 + 10
}

TEST(Scheduler, PreemptsTheNewestWhenBlocksRunOut) {
  Scheduler sch({64, 8, false, 2.0});
  FakeHost host;
  host.free_blocks = 6;  // 24 slots
  std::vector<std::unique_ptr<Sequence>> running;
  std::deque<std::unique_ptr<Sequence>> waiting;
  for (uint64_t id : {1, 2, 3}) {
    running.push_back(seq(id, 8));
    ASSERT_TRUE(host.reserve(*running.back(), 8));
    running.back()->n_computed = 8;
    running.back()->tokens.insert(running.back()->tokens.end(), 5, 7);  // each wants 5 more slots: 2 more blocks
  }
  EXPECT_EQ(host.free_blocks, 0);
  auto s = sch.schedule(running, waiting, host, Clock::now());
  // Sequence 1 needs 2 blocks: 3 (the newest) is preempted; 2 then needs 2 too: it is the newest now and yields.
  EXPECT_EQ(host.preempted, (std::vector<uint64_t>{3, 2}));
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0]->handle->id(), 1u);
  ASSERT_EQ(waiting.size(), 2u);
  EXPECT_EQ(waiting[0]->handle->id(), 2u);  // most recently preempted at the front
  EXPECT_EQ(rows_of(s, 1), 5);
  EXPECT_EQ(s.n_preempted, 2);
  EXPECT_EQ(host.free_blocks, 2);  // 1 took one of 3's two blocks; 2's two came back
}

TEST(Scheduler, CacheAwareAdmitsSmallestPredictedComputeFirst) {
  Scheduler sch({64, 8, true, 2.0});
  FakeHost host;
  std::vector<std::unique_ptr<Sequence>> running;
  std::deque<std::unique_ptr<Sequence>> waiting;
  waiting.push_back(seq(1, 60, /*predicted=*/60));
  waiting.push_back(seq(2, 60, /*predicted=*/6));   // a semantic hit
  waiting.push_back(seq(3, 60, /*predicted=*/20));
  auto s = sch.schedule(running, waiting, host, Clock::now());
  EXPECT_EQ(host.admitted, (std::vector<uint64_t>{2, 3}));  // 60 + 60 > 64: the third waits
  EXPECT_EQ(rows_of(s, 2), 60);
  EXPECT_EQ(rows_of(s, 3), 4);
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(waiting[0]->handle->id(), 1u);
}

TEST(Scheduler, AgeCapRestoresFifoOrder) {
  Scheduler sch({64, 8, true, /*max_wait_beyond_fifo_s=*/0.5});
  FakeHost host;
  std::vector<std::unique_ptr<Sequence>> running;
  std::deque<std::unique_ptr<Sequence>> waiting;
  waiting.push_back(seq(1, 60, 60));
  waiting.push_back(seq(2, 60, 6));
  waiting.push_back(seq(3, 60, 7));
  const auto t0 = Clock::now();
  EXPECT_EQ(sch.pick_waiting(waiting, t0), 1);  // smallest compute; request 1 is the FIFO head from now on
  EXPECT_EQ(sch.pick_waiting(waiting, t0 + std::chrono::milliseconds(400)), 1);  // passed over, within the cap
  // Passed over as the head for longer than the cap: its FIFO turn wins.
  EXPECT_EQ(sch.pick_waiting(waiting, t0 + std::chrono::seconds(1)), 0);
  sch.schedule(running, waiting, host, t0 + std::chrono::seconds(1));
  EXPECT_EQ(host.admitted.front(), 1u);
  // Long waits elsewhere do not matter: only how long the head has been passed over.
  std::deque<std::unique_ptr<Sequence>> w2;
  w2.push_back(seq(4, 60, 60));
  w2.push_back(seq(5, 60, 6));
  EXPECT_EQ(sch.pick_waiting(w2, t0 + std::chrono::seconds(30)), 1);
}

TEST(Scheduler, FifoWhenNotCacheAwareAndPreemptedFirst) {
  Scheduler fifo({64, 8, false, 2.0});
  std::deque<std::unique_ptr<Sequence>> waiting;
  waiting.push_back(seq(1, 60, 60));
  waiting.push_back(seq(2, 60, 6));
  EXPECT_EQ(fifo.pick_waiting(waiting, Clock::now()), 0);
  Scheduler aware({64, 8, true, 2.0});
  EXPECT_EQ(aware.pick_waiting(waiting, Clock::now()), 1);
  waiting[0]->usage.preemptions = 1;  // a preempted request has a stream open: it goes first
  EXPECT_EQ(aware.pick_waiting(waiting, Clock::now()), 0);
  waiting[0]->done = true;  // finished ones are never picked
  EXPECT_EQ(aware.pick_waiting(waiting, Clock::now()), 1);
  waiting[1]->done = true;
  EXPECT_EQ(aware.pick_waiting(waiting, Clock::now()), -1);
}

TEST(Scheduler, NoBlocksStopsAdmissionFailedMovesOn) {
  Scheduler sch({64, 8, false, 2.0});
  FakeHost host;
  host.fail_ids = {1};
  host.free_blocks = 3;  // 12 slots
  std::vector<std::unique_ptr<Sequence>> running;
  std::deque<std::unique_ptr<Sequence>> waiting;
  waiting.push_back(seq(1, 8));
  waiting.push_back(seq(2, 8));
  waiting.push_back(seq(3, 8));  // would need 2 more blocks: only 1 left
  waiting.push_back(seq(4, 2));  // would fit, but is never admitted ahead of 3 for lack of blocks
  auto s = sch.schedule(running, waiting, host, Clock::now());
  EXPECT_EQ(host.admitted, (std::vector<uint64_t>{2}));
  EXPECT_EQ(s.n_admitted, 1);
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(waiting.size(), 3u);  // the failed one stays until the owner reaps it
  EXPECT_TRUE(waiting[0]->done);
}

TEST(Scheduler, MaxRunningBoundsAdmission) {
  Scheduler sch({512, 2, false, 2.0});
  FakeHost host;
  std::vector<std::unique_ptr<Sequence>> running;
  std::deque<std::unique_ptr<Sequence>> waiting;
  for (uint64_t id = 1; id <= 5; ++id) waiting.push_back(seq(id, 4));
  auto s = sch.schedule(running, waiting, host, Clock::now());
  EXPECT_EQ(running.size(), 2u);
  EXPECT_EQ(s.n_rows, 8);
  EXPECT_EQ(waiting.size(), 3u);
}

TEST(Scheduler, RepairRowsOnlyFromTheBudgetLeftOver) {
  Scheduler sch({/*max_batch_tokens=*/20, 8, false, 2.0, /*repair_rows=*/8});
  FakeHost host;
  std::vector<std::unique_ptr<Sequence>> running;
  std::deque<std::unique_ptr<Sequence>> waiting;
  for (uint64_t id : {1, 2}) {  // two approximate sequences decoding, 30 rows behind each
    running.push_back(seq(id, 40));
    running.back()->n_computed = 40;
    running.back()->tokens.push_back(3);
    running.back()->repair_pos = 10;
  }
  waiting.push_back(seq(3, 6));  // a new request: admitted before any repair row
  auto s = sch.schedule(running, waiting, host, Clock::now());
  ASSERT_EQ(s.rows.size(), 3u);
  EXPECT_EQ(s.rows[0].take, 1);
  EXPECT_EQ(s.rows[0].repair, 8);  // capped per sequence
  EXPECT_EQ(s.rows[1].take, 1);
  EXPECT_EQ(s.rows[1].repair, 4);  // 20 - 1 - 1 - 6 - 8 left
  EXPECT_EQ(s.rows[2].take, 6);
  EXPECT_EQ(s.rows[2].repair, 0);
  EXPECT_EQ(s.n_rows, 20);
  running[0]->repair_pos = -1;  // exact: no backlog
  EXPECT_EQ(running[0]->repair_backlog(), 0);
  EXPECT_EQ(running[1]->repair_backlog(), 30);
}

}  // namespace
}  // namespace kvs::engine

#include "engine/engine.h"

namespace kvs::engine {
namespace {

TEST(EngineConfigTest, ValidateNamesTheBadField) {
  EngineConfig c;
  EXPECT_TRUE(c.validate(30).is_ok());
  c.blend_layer = 0;  // layer 0's K/V are context-free: nothing to rank
  EXPECT_NE(c.validate(30).message().find("blend_layer"), std::string::npos);
  c.blend_layer = 30;
  EXPECT_FALSE(c.validate(30).is_ok());
  c.blend_layer = 29;
  EXPECT_TRUE(c.validate(30).is_ok());
  c.max_batch_tokens = 0;
  EXPECT_NE(c.validate(30).message().find("max_batch_tokens"), std::string::npos);
  c = EngineConfig{};
  c.repair_rows = -1;
  EXPECT_FALSE(c.validate(30).is_ok());
  c = EngineConfig{};
  c.planner.edit_tail = -2;
  EXPECT_FALSE(c.validate(30).is_ok());
}

}  // namespace
}  // namespace kvs::engine
