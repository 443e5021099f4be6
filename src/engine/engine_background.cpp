// Background repair: a finished semantic request's prompt KV, made exact while the engine is idle, so that new
// content becomes a donor (EngineConfig::background_repair_rows).
//
//   finish(stop|length) of an approximate sequence ──► keeps its table (Sequence::background)
//   reap_finished ──► background_ (oldest first, at most max_background)
//   idle step ──► rows [repair_pos, repair_pos + k) of the oldest, through every layer (no logits)
//   repair_pos == n_prompt ──► exact: publish, donate, retire its donor if it contained all of it, release
//   a waiting request, a dry pool, shutdown ──► drop_background: release every pending one
#include <algorithm>
#include <cstdio>

#include "engine/engine.h"
#include "engine/sequence.h"

namespace kvs::engine {

bool Engine::wants_background(const Sequence& seq, const std::string& reason) const {
  if (cfg_.background_repair_rows <= 0 || !donors_ || !cfg_.prefix_cache) return false;
  if (reason != "stop" && reason != "length") return false;
  if (!seq.approximate || seq.approx_from < 0 || seq.donated || seq.params.embedding.empty()) return false;
  if (seq.params.share_mode == ShareMode::kFull || seq.params.share_mode == ShareMode::kPrefix) return false;
  const int64_t bs = kv_->block_size();
  return std::min(seq.n_prompt, seq.donation.shareable_tokens) >= bs && seq.table.size() * bs >= seq.n_prompt;
}

void Engine::keep_background() {
  for (auto& s : running_) {
    if (!s || !s->done || !s->background) continue;
    if (s->repair_pos < 0) s->repair_pos = s->approx_from;  // decode-stage repair was off: start at the first row
    background_.push_back(std::move(s));
  }
  running_.erase(std::remove(running_.begin(), running_.end(), nullptr), running_.end());
  while (static_cast<int32_t>(background_.size()) > std::max(0, cfg_.max_background)) {
    kv_->release(background_.front()->table);
    background_.pop_front();
    metrics_.update([](MetricsSnapshot& s) { ++s.background_dropped; });
  }
}

bool Engine::drop_background() {
  if (background_.empty()) return false;
  const auto n = static_cast<uint64_t>(background_.size());
  for (auto& s : background_) kv_->release(s->table);
  background_.clear();
  metrics_.update([&](MetricsSnapshot& s) {
    s.background_dropped += n;
    s.background_pending = 0;
  });
  return true;
}

bool Engine::step_background() {
  if (background_.empty()) return false;
  Sequence& seq = *background_.front();
  // Decode-stage repair may already have passed the prompt (then r = 0: it is exact, donate now).
  const int64_t r = std::clamp<int64_t>(seq.n_prompt - seq.repair_pos, 0, cfg_.background_repair_rows);
  bool ok = true;
  if (r > 0) {
    const ScheduledRows rows{&seq, 0, r};
    const Status st = forward_only(std::span(&rows, 1));
    ok = st.is_ok();
    if (!ok)
      std::fprintf(stderr, "kvshare engine: background repair of request %llu dropped: %s\n",
                   static_cast<unsigned long long>(seq.handle->id()), st.to_string().c_str());
  }
  if (ok) {
    seq.repair_pos += r;
    metrics_.update([&](MetricsSnapshot& s) { s.repair_rows += r; });
    if (seq.repair_pos < seq.n_prompt) return true;
    // Exact now: the prompt's KV equals full computation (the generated rows after it are not needed).
    seq.approximate = false;
    seq.n_computed = seq.n_prompt;
    publish(seq);
    const int64_t lender = seq.contains_donor ? seq.usage.share.donor_id : -1;
    maybe_donate(seq);
    if (lender >= 0 && seq.donated) {
      donors_->retire(static_cast<uint64_t>(lender));  // the new donor holds all of it, and more
      ++donor_generation_;
      metrics_.update([](MetricsSnapshot& s) { ++s.donors_retired; });
    }
    metrics_.update([](MetricsSnapshot& s) { ++s.background_repairs; });
  } else {
    metrics_.update([](MetricsSnapshot& s) { ++s.background_dropped; });
  }
  kv_->release(seq.table);
  background_.pop_front();
  return true;
}

}  // namespace kvs::engine
