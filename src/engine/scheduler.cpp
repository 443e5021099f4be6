#include "engine/scheduler.h"

#include <algorithm>

#include "base/status.h"

namespace kvs::engine {

int64_t Scheduler::pick_waiting(std::deque<std::unique_ptr<Sequence>>& waiting, Clock::time_point now) const {
  const auto cap = std::chrono::duration<double>(cfg_.max_wait_beyond_fifo_s);
  int64_t best = -1;
  bool head = true;  // the first live sequence is the FIFO head (the deque is in arrival order, preempted first)
  for (size_t i = 0; i < waiting.size(); ++i) {
    Sequence& s = *waiting[i];
    if (s.done) continue;
    if (head) {
      if (!s.fifo_head_since) s.fifo_head_since = now;
      // Preempted, FIFO configured, or passed over as the head for longer than the cap: FIFO wins.
      if (s.usage.preemptions > 0 || !cfg_.cache_aware || now - *s.fifo_head_since > cap) return static_cast<int64_t>(i);
      head = false;
    }
    if (best < 0 || s.predicted_rows < waiting[best]->predicted_rows) best = static_cast<int64_t>(i);
  }
  return best;
}

void Scheduler::schedule_running(std::vector<std::unique_ptr<Sequence>>& running,
                                 std::deque<std::unique_ptr<Sequence>>& waiting, SchedulerHost& host, Schedule& out,
                                 int64_t& budget) const {
  for (size_t i = 0; i < running.size() && budget > 0; ++i) {
    Sequence* seq = running[i].get();
    if (seq->done) continue;
    const int64_t take = seq->rows_within(budget, cfg_.max_batch_tokens, cfg_.n_layer);
    if (take <= 0) continue;
    bool yielded = false;
    while (!host.reserve(*seq, take)) {
      const bool newest = running.size() - 1 == i;
      std::unique_ptr<Sequence> victim = std::move(running.back());
      running.pop_back();
      host.preempt(*victim);
      waiting.push_front(std::move(victim));
      ++out.n_preempted;
      if (newest) {  // this one was the newest: it yielded
        yielded = true;
        break;
      }
    }
    if (yielded) break;
    charge(out, seq, take, budget);
  }
}

void Scheduler::charge(Schedule& out, Sequence* seq, int64_t take, int64_t& budget) const {
  const int64_t c = seq->row_cost(take, cfg_.n_layer);
  out.rows.push_back({seq, take, 0});
  out.n_rows += take;
  budget -= c;
}

Schedule Scheduler::schedule(std::vector<std::unique_ptr<Sequence>>& running,
                             std::deque<std::unique_ptr<Sequence>>& waiting, SchedulerHost& host,
                             Clock::time_point now) const {
  Schedule out;
  int64_t budget = budget_units();
  schedule_running(running, waiting, host, out, budget);
  while (budget >= cfg_.n_layer && !waiting.empty() && static_cast<int32_t>(running.size()) < cfg_.max_running) {
    const int64_t i = pick_waiting(waiting, now);
    if (i < 0) break;
    Sequence* seq = waiting[i].get();
    const AdmitResult r = host.admit(*seq, budget / cfg_.n_layer);
    if (r == AdmitResult::kNoBlocks) break;
    if (r == AdmitResult::kFailed) {
      KVS_CHECK_MSG(seq->done, "a failed admission must finish its request");
      continue;  // reaped by the owner at the end of the step
    }
    const int64_t take = seq->rows_within(budget, cfg_.max_batch_tokens, cfg_.n_layer);
    running.push_back(std::move(waiting[i]));
    waiting.erase(waiting.begin() + i);
    ++out.n_admitted;
    if (take > 0) charge(out, seq, take, budget);  // else it runs from the next step on
  }
  schedule_repair(running, out, budget);
  KVS_CHECK(budget >= 0);
  return out;
}

void Scheduler::schedule_repair(std::vector<std::unique_ptr<Sequence>>& running, Schedule& out, int64_t& budget) const {
  if (cfg_.repair_rows <= 0) return;
  for (auto& s : running) {
    if (budget <= 0) return;
    const int64_t backlog = s->done ? 0 : s->repair_backlog();
    if (backlog <= 0) continue;
    const int64_t r = std::min<int64_t>({backlog, cfg_.repair_rows, budget / cfg_.n_layer});
    if (r <= 0) return;
    auto it = std::find_if(out.rows.begin(), out.rows.end(), [&](const ScheduledRows& x) { return x.seq == s.get(); });
    if (it == out.rows.end()) it = out.rows.insert(out.rows.end(), ScheduledRows{s.get(), 0, 0});
    it->repair = r;
    out.n_rows += r;
    budget -= r * cfg_.n_layer;
  }
}

}  // namespace kvs::engine
