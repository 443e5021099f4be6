#include "engine/engine.h"

#include <algorithm>
#include <cstdio>

namespace kvs::engine {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
}  // namespace

Engine::Engine(const model::Model& model, const tok::Tokenizer& tokenizer, const EngineConfig& cfg,
               const share::Embedder* embedder)
    : model_(model), tok_(tokenizer), cfg_(cfg), embedder_(embedder) {
  const auto& hp = model.hparams();
  kv::KvGeometry g{hp.n_layer, hp.n_head_kv, hp.head_dim, cfg.block_size};
  const int32_t n_blocks = kv::KvManager::blocks_for_budget(g, cfg.kv_cache_mib);
  kv_ = std::make_unique<kv::KvManager>(g, n_blocks);
  max_ctx_ = std::min<int64_t>(hp.n_ctx_train, static_cast<int64_t>(n_blocks) * cfg.block_size);
  if (embedder_ && cfg_.semantic && cfg_.prefix_cache) {
    donors_ = std::make_unique<share::DonorStore>(embedder_->dim(), cfg_.max_donors);
    kv_->pool().set_eviction_listener([this](kv::BlockId b) { donors_->on_block_evicted(b); });
  } else {
    cfg_.semantic = false;
  }
  pool_ = std::make_unique<ThreadPool>(cfg.n_threads > 0 ? cfg.n_threads : ThreadPool::default_threads());
  metrics_.update([&](MetricsSnapshot& s) {
    s.kv_blocks_total = kv_->pool().num_usable();
    s.kv_blocks_free = kv_->pool().num_free();
    s.kv_block_size = cfg.block_size;
  });
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { shutdown(/*cancel_inflight=*/true); }

Result<std::shared_ptr<RequestHandle>> Engine::submit(RequestParams params) {
  if (params.prompt.empty()) return invalid_argument("the prompt is empty");
  for (int32_t t : params.prompt)
    if (t < 0 || t >= model_.hparams().n_vocab) return invalid_argument("prompt token id " + std::to_string(t) + " is out of range");
  if (params.max_tokens < 1) return invalid_argument("max_tokens must be at least 1");
  KVS_RETURN_IF_ERROR(params.sampling.validate());
  const int64_t need = static_cast<int64_t>(params.prompt.size()) + params.max_tokens;
  if (static_cast<int64_t>(params.prompt.size()) >= max_ctx_)
    return invalid_argument("the prompt has " + std::to_string(params.prompt.size()) +
                            " tokens; this server's context is " + std::to_string(max_ctx_) + " tokens");
  if (need > max_ctx_)
    params.max_tokens = static_cast<int32_t>(max_ctx_ - static_cast<int64_t>(params.prompt.size()));
  if (params.recompute_ratio > 1) return invalid_argument("recompute_ratio must be in [0, 1]");
  auto handle = std::make_shared<RequestHandle>(next_id_.fetch_add(1));
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!accepting_) return resource_exhausted("the server is shutting down");
    if (static_cast<int64_t>(inbox_.size()) + n_waiting_.load() >= cfg_.max_waiting) {
      metrics_.update([](MetricsSnapshot& s) { ++s.requests_rejected; });
      return resource_exhausted("the request queue is full (" + std::to_string(cfg_.max_waiting) + " waiting)");
    }
    inbox_.push_back(std::make_unique<Sequence>(handle, std::move(params)));
  }
  metrics_.update([](MetricsSnapshot& s) { ++s.requests_total; });
  cv_.notify_all();
  return handle;
}

void Engine::shutdown(bool cancel_inflight) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    accepting_ = false;
    stopping_ = true;
    if (cancel_inflight)
      for (auto& s : inbox_) s->handle->cancel();
  }
  if (cancel_inflight) {
    // The engine thread sees the flags on its next step; the handles are thread-safe.
    std::lock_guard<std::mutex> lk(mu_);
    cancel_all_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

MetricsSnapshot Engine::metrics() const { return metrics_.snapshot(); }

void Engine::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return !inbox_.empty() || !running_.empty() || !waiting_.empty() || stopping_; });
      while (!inbox_.empty()) {
        waiting_.push_back(std::move(inbox_.front()));
        inbox_.pop_front();
      }
      if (cancel_all_) {
        for (auto& s : waiting_) s->handle->cancel();
        for (auto& s : running_) s->handle->cancel();
      }
      if (stopping_ && running_.empty() && waiting_.empty()) return;
    }
    step();
  }
}

void Engine::preempt(std::unique_ptr<Sequence>& seq) {
  kv_->release(seq->table);
  seq->n_computed = 0;
  ++seq->usage.preemptions;
  metrics_.update([](MetricsSnapshot& s) { ++s.preemptions; });
  waiting_.push_front(std::move(seq));
}

void Engine::finish(Sequence& seq, const std::string& reason, const Status& error) {
  if (seq.done) return;
  StreamEvent ev;
  if (reason == "length" || (reason == "stop" && !seq.stops_hit)) {
    auto o = seq.stops.push(seq.utf8.flush());
    ev.text = o.text;
    if (!o.stopped) ev.text += seq.stops.flush();
  }
  seq.done = true;
  kv_->release(seq.table);
  const auto now = Clock::now();
  seq.usage.prompt_tokens = seq.n_prompt;
  seq.usage.completion_tokens = seq.n_generated();
  seq.usage.total_ms = seconds_between(seq.handle->created(), now) * 1000.0;
  ev.finished = true;
  ev.finish_reason = reason;
  ev.usage = seq.usage;
  ev.error = error;
  // Metrics first, so a client that reads them after its final event sees its blocks returned.
  metrics_.update([&](MetricsSnapshot& s) {
    if (reason == "cancelled") ++s.requests_cancelled;
    else if (reason == "error") ++s.requests_failed;
    else ++s.requests_finished;
    s.e2e.observe(seq.usage.total_ms / 1000.0);
    s.kv_blocks_free = kv_->pool().num_free();
    s.kv_blocks_cached = kv_->pool().num_cached();
  });
  seq.handle->push(std::move(ev));
}

void Engine::emit_token(Sequence& seq, int32_t token) {
  const auto now = Clock::now();
  if (seq.n_generated() == 0) {
    seq.usage.ttft_ms = seconds_between(seq.handle->created(), now) * 1000.0;
    metrics_.update([&](MetricsSnapshot& s) { s.ttft.observe(seq.usage.ttft_ms / 1000.0); });
  } else {
    const double dt = seconds_between(seq.last_token_at, now);
    metrics_.update([&](MetricsSnapshot& s) { s.inter_token.observe(dt); });
  }
  seq.last_token_at = now;
  if (!seq.params.ignore_eos && tok_.is_eog(token)) {
    finish(seq, "stop");
    return;
  }
  seq.tokens.push_back(token);
  metrics_.update([](MetricsSnapshot& s) { ++s.generation_tokens; });
  auto o = seq.stops.push(seq.utf8.push(tok_.token_to_piece(token)));
  {  // every token is reported, even when its text is held back (partial UTF-8, possible stop string)
    StreamEvent ev;
    ev.text = std::move(o.text);
    ev.tokens = {token};
    seq.handle->push(std::move(ev));
  }
  if (o.stopped) {
    seq.stops_hit = true;
    finish(seq, "stop");
  } else if (seq.n_generated() >= seq.params.max_tokens) {
    finish(seq, "length");
  }
}

void Engine::reap_finished() {
  auto done = [](const std::unique_ptr<Sequence>& s) { return s->done; };
  running_.erase(std::remove_if(running_.begin(), running_.end(), done), running_.end());
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), done), waiting_.end());
}

bool Engine::step() {
  // Cancellations free their blocks at once.
  for (auto& s : running_) if (s->handle->cancelled()) finish(*s, "cancelled");
  for (auto& s : waiting_) if (s->handle->cancelled()) finish(*s, "cancelled");
  reap_finished();

  int64_t budget = cfg_.max_batch_tokens;
  std::vector<Planned> plan;
  // 1. Running sequences, oldest first. Preempt the newest when blocks run out.
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Sequence* seq = running_[i].get();
    const int64_t take = std::min(seq->pending_rows(), budget);
    if (take <= 0) continue;
    bool self_preempted = false;
    while (!kv_->reserve(seq->table, seq->n_computed + take).is_ok()) {
      if (running_.size() - 1 == i) {  // this is the newest: it yields
        preempt(running_[i]);
        running_.erase(running_.begin() + i);
        self_preempted = true;
        break;
      }
      preempt(running_.back());
      running_.pop_back();
    }
    if (self_preempted) break;
    plan.push_back({seq, take});
    budget -= take;
  }
  // 2. Admit waiting sequences in arrival order while budget, slots and blocks last.
  while (budget > 0 && !waiting_.empty() && static_cast<int32_t>(running_.size()) < cfg_.max_running) {
    Sequence* seq = waiting_.front().get();
    if (!seq->admitted_once && seq->table.size() == 0 && try_semantic(*seq)) {
      seq->admitted_once = seq->scheduled_once = true;
      budget -= seq->usage.share.recomputed_tokens;
      running_.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
      continue;
    }
    const bool use_prefix = cfg_.prefix_cache && seq->params.share_mode != ShareMode::kFull;
    if (seq->table.size() == 0 && seq->n_computed == 0 && use_prefix) {
      auto hit = kv_->match_prefix(seq->params.domain, seq->tokens);
      seq->n_computed = kv_->adopt_prefix(seq->table, seq->params.domain, seq->tokens, hit);
      if (!seq->admitted_once) {
        seq->usage.cached_tokens = seq->n_computed;
        seq->usage.share.mode = hit.empty() ? "full" : "prefix";
        seq->usage.share.reused_tokens = seq->n_computed;
        seq->usage.share.total_tokens = seq->n_prompt;
        seq->usage.share.recomputed_tokens = seq->n_prompt - seq->n_computed;
        metrics_.update([&](MetricsSnapshot& s) {
          ++s.prefix_queries;
          if (!hit.empty()) ++s.prefix_hits;
          s.prefix_cached_tokens += seq->n_computed;
          s.prompt_tokens += seq->n_prompt;
        });
      }
    } else if (!seq->admitted_once) {
      seq->usage.share.total_tokens = seq->usage.share.recomputed_tokens = seq->n_prompt;
      metrics_.update([&](MetricsSnapshot& s) { s.prompt_tokens += seq->n_prompt; });
    }
    seq->admitted_once = true;
    const int64_t take = std::min(seq->pending_rows(), budget);
    if (!kv_->reserve(seq->table, seq->n_computed + take).is_ok()) {
      // Not enough blocks: give back the adopted prefix (it stays cached) and wait for running requests.
      kv_->release(seq->table);
      seq->n_computed = 0;
      break;
    }
    if (!seq->scheduled_once) {
      seq->scheduled_once = true;
      seq->usage.queue_ms = seconds_between(seq->handle->created(), Clock::now()) * 1000.0;
    }
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
    plan.push_back({seq, take});
    budget -= take;
  }
  if (plan.empty()) {
    reap_finished();
    update_gauges();
    if (!running_.empty() || !waiting_.empty()) std::this_thread::yield();
    return false;
  }

  // 3. One forward over all planned rows.
  model::UBatch ub;
  std::vector<model::SeqKvView> views(plan.size());
  for (size_t s = 0; s < plan.size(); ++s) {
    Sequence* seq = plan[s].seq;
    views[s].blocks = seq->table.ids();
    const int64_t end = seq->n_computed + plan[s].take;
    for (int64_t p = seq->n_computed; p < end; ++p)
      ub.add(seq->tokens[p], static_cast<int32_t>(p), static_cast<int32_t>(s), p + 1 == static_cast<int64_t>(seq->tokens.size()));
  }
  std::vector<float> logits;
  Status st = model_.forward(ub, views, kv_->storage(), logits, pool_.get());
  if (!st.is_ok()) {
    for (auto& p : plan) finish(*p.seq, "error", st);
    reap_finished();
    update_gauges();
    return true;
  }
  // 4. Advance, publish full blocks, sample where the last row was computed.
  const int64_t n_vocab = model_.hparams().n_vocab;
  int64_t out_row = 0;
  for (auto& p : plan) {
    Sequence* seq = p.seq;
    seq->n_computed += p.take;
    if (seq->n_computed <= seq->n_prompt) {
      seq->usage.computed_prompt_tokens += p.take;
      metrics_.update([&](MetricsSnapshot& s) { s.computed_prompt_tokens += p.take; });
    }
    if (cfg_.prefix_cache && !seq->approximate) {
      kv_->publish(seq->table, seq->params.domain, seq->tokens, seq->n_computed);
      if (seq->n_computed >= seq->n_prompt) maybe_donate(*seq);
    }
    if (seq->pending_rows() == 0) {
      std::span<float> row(logits.data() + out_row * n_vocab, n_vocab);
      ++out_row;
      if (seq->handle->cancelled()) {
        finish(*seq, "cancelled");
        continue;
      }
      emit_token(*seq, seq->sampler.sample(row, seq->tokens));
    }
  }
  metrics_.update([&](MetricsSnapshot& s) {
    ++s.steps;
    s.batched_rows += ub.size();
  });
  reap_finished();
  update_gauges();
  return true;
}

void Engine::update_gauges() {
  n_waiting_.store(static_cast<int64_t>(waiting_.size()));
  metrics_.update([&](MetricsSnapshot& s) {
    s.running = static_cast<int64_t>(running_.size());
    s.waiting = static_cast<int64_t>(waiting_.size());
    s.kv_blocks_free = kv_->pool().num_free();
    s.kv_blocks_cached = kv_->pool().num_cached();
  });
}

}  // namespace kvs::engine
