#include "engine/engine.h"

#include <algorithm>
#include <cstdio>
#include <new>
#include <stdexcept>

#include "engine/blend.h"
#include "engine/semantic_admission.h"

namespace kvs::engine {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

SchedulerConfig scheduler_config(const EngineConfig& c, int64_t n_layer) {
  return SchedulerConfig{c.max_batch_tokens, c.max_running, c.cache_aware, c.max_wait_beyond_fifo_s, c.repair_rows,
                         static_cast<int32_t>(n_layer)};
}
}  // namespace

// One forward's inputs: rows of every scheduled sequence, one KV view and one hook slot per sequence.
struct Engine::Batch {
  model::UBatch ub;
  std::vector<model::SeqKvView> views;  // (sequences)
  std::vector<model::SeqHook*> hooks;   // (sequences) null = none
  bool any_hook = false;
};

Status EngineConfig::validate(int64_t n_layer) const {
  if (block_size < 1) return invalid_argument("block_size must be at least 1");
  if (kv_dtype != DType::kF16 && kv_dtype != DType::kF32) return invalid_argument("kv_dtype must be f16 or f32");
  if (max_batch_tokens < 1) return invalid_argument("max_batch_tokens must be at least 1");
  if (max_running < 1) return invalid_argument("max_running must be at least 1");
  if (max_waiting < 0) return invalid_argument("max_waiting must not be negative");
  if (max_prepare_per_step < 1) return invalid_argument("max_prepare_per_step must be at least 1");
  if (repair_rows < 0) return invalid_argument("repair_rows must not be negative");
  if (background_repair_rows < 0) return invalid_argument("background_repair_rows must not be negative");
  if (fragment_window < 1) return invalid_argument("fragment_window must be at least 1");
  if (!(run_retrieval >= 0.0 && run_retrieval <= 1.0)) return invalid_argument("run_retrieval must be in [0, 1]");
  if (!(max_wait_beyond_fifo_s >= 0)) return invalid_argument("max_wait_beyond_fifo_s must not be negative");
  if (!disk_cache_dir.empty() && !(disk_cache_gib > 0)) return invalid_argument("disk_cache_gib must be positive");
  if (!disk_cache_dir.empty() && disk_segment_bytes == 0) return invalid_argument("disk_segment_bytes must be positive");
  if (!redis_url.empty() && !(redis_ttl_s >= 1)) return invalid_argument("redis_ttl_s must be at least 1");
  if (!redis_url.empty() && !(redis_max_mib > 0)) return invalid_argument("redis_max_mib must be positive");
  if (!redis_url.empty() && (redis_timeout_ms < 1 || redis_timeout_ms > 60000))
    return invalid_argument("redis_timeout_ms must be in [1, 60000]");
  // Layer 0's K/V depend only on the token and its position: every deviation there is 0, nothing to rank.
  if (blend_layer < 1 || blend_layer >= n_layer)
    return invalid_argument("blend_layer must be in [1, " + std::to_string(n_layer - 1) + "] for this model (got " +
                            std::to_string(blend_layer) + ")");
  if (refine_layer != 0 && (refine_layer <= blend_layer || refine_layer >= n_layer))
    return invalid_argument("refine_layer must be 0 (off) or in [" + std::to_string(blend_layer + 1) + ", " +
                            std::to_string(n_layer - 1) + "] (after blend_layer) for this model (got " +
                            std::to_string(refine_layer) + ")");
  if (!(refine_widen >= 1.0 && refine_widen <= 64.0)) return invalid_argument("refine_widen must be in [1, 64]");
  return planner.validate();
}

Result<FaultSpec> FaultSpec::parse(const std::string& spec) {
  const size_t a = spec.find(':'), b = a == std::string::npos ? a : spec.find(':', a + 1);
  if (b == std::string::npos) return invalid_argument("fault spec must be point:kind:marker, got '" + spec + "'");
  FaultSpec f{spec.substr(0, a), spec.substr(a + 1, b - a - 1), spec.substr(b + 1)};
  static const char* kPoints[] = {"embed", "search", "admit", "forward", "sample", "donate"};
  if (std::find_if(std::begin(kPoints), std::end(kPoints), [&](const char* p) { return f.point == p; }) == std::end(kPoints))
    return invalid_argument("unknown fault point '" + f.point + "' (embed, search, admit, forward, sample, donate)");
  if (f.kind != "throw" && f.kind != "oom" && f.kind != "status")
    return invalid_argument("unknown fault kind '" + f.kind + "' (throw, oom, status)");
  if (f.marker.empty()) return invalid_argument("fault marker must not be empty");
  return f;
}

Engine::Engine(const model::Model& model, const tok::Tokenizer& tokenizer, const EngineConfig& cfg,
               const share::Embedder* embedder)
    : model_(model), tok_(tokenizer), cfg_(cfg), embedder_(embedder),
      sched_(scheduler_config(cfg, model.hparams().n_layer)) {
  const auto& hp = model.hparams();
  const Status valid = cfg.validate(hp.n_layer);
  KVS_CHECK_MSG(valid.is_ok(), valid.message().c_str());  // callers validate first (the CLI reports it)
  kv::KvGeometry g{hp.n_layer, hp.n_head_kv, hp.head_dim, cfg.block_size, cfg.kv_dtype};
  const int32_t n_blocks = kv::KvManager::blocks_for_budget(g, cfg.kv_cache_mib);
  kv_ = std::make_unique<kv::KvManager>(g, n_blocks);
  max_ctx_ = std::min<int64_t>(hp.n_ctx_train, static_cast<int64_t>(n_blocks) * cfg.block_size);
  if (embedder_ && cfg_.semantic && cfg_.prefix_cache) {
    donors_ = std::make_unique<share::DonorStore>(embedder_->dim(), cfg_.max_donors);
    if (cfg_.fragments || cfg_.run_retrieval > 0)  // run retrieval reads the same index
      donors_->enable_fragments(cfg_.block_size, cfg_.fragment_window);
  } else {
    cfg_.semantic = false;
  }
  open_disk_tier();
  open_redis_tier();
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
  if (params.logprobs < -1 || params.logprobs > model_.hparams().n_vocab)
    return invalid_argument("logprobs must be in [0, n_vocab]");
  if (params.prompt_logprobs) params.share_mode = ShareMode::kFull;  // every prompt row must be computed
  auto handle = std::make_shared<RequestHandle>(next_id_.fetch_add(1));
  // The donation policy decoded here, on the client's thread (it reads every prompt token's bytes).
  DonationLimit donation = donation_limit(tok_, params.prompt, params.share_text, params.donate, params.screen_sensitive,
                                         params.screen_from_byte);
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!accepting_) return resource_exhausted("the server is shutting down");
    if (static_cast<int64_t>(inbox_.size()) + n_waiting_.load() >= cfg_.max_waiting) {
      metrics_.update([](MetricsSnapshot& s) { ++s.requests_rejected; });
      return resource_exhausted("the request queue is full (" + std::to_string(cfg_.max_waiting) + " waiting)");
    }
    inbox_.push_back(std::make_unique<Sequence>(handle, std::move(params)));
    inbox_.back()->donation = std::move(donation);
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
    if (cancel_inflight) {
      for (auto& s : inbox_) s->handle->cancel();
      cancel_all_ = true;  // the engine thread sees it on its next step; the handles are thread-safe
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

MetricsSnapshot Engine::metrics() const {
  MetricsSnapshot s = metrics_.snapshot();
  add_disk_metrics(s);
  add_redis_metrics(s);
  return s;
}

void Engine::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] {
        return !inbox_.empty() || !running_.empty() || !waiting_.empty() || !background_.empty() || stopping_;
      });
      while (!inbox_.empty()) {
        waiting_.push_back(std::move(inbox_.front()));
        inbox_.pop_front();
      }
      if (cancel_all_) {
        for (auto& s : waiting_) s->handle->cancel();
        for (auto& s : running_) s->handle->cancel();
      }
      if (stopping_ && running_.empty() && waiting_.empty()) {
        drop_background();
        return;
      }
    }
    try {
      step();
    } catch (const std::exception& e) {
      // A fault outside every per-request boundary: fail what is in flight, keep the engine alive.
      std::fprintf(stderr, "kvshare engine: step failed: %s; failing %zu in-flight request(s)\n", e.what(),
                   running_.size() + waiting_.size());
      for (auto& s : running_) fail(*s, "engine step", e);
      for (auto& s : waiting_) fail(*s, "engine step", e);
      reap_finished();
      update_gauges();
    }
  }
}

void Engine::fail_cancelled() {
  for (auto& s : running_) if (s->handle->cancelled()) finish(*s, "cancelled");
  for (auto& s : waiting_) if (s->handle->cancelled()) finish(*s, "cancelled");
}

bool Engine::step() {
  fail_cancelled();
  reap_finished();
  drain_evictions();
  if (!waiting_.empty()) drop_background();  // load: repairs wait for the next idle time, never a request
  prepare_waiting();
  const Schedule sched = sched_.schedule(running_, waiting_, *this, Clock::now());
  drain_evictions();  // admissions and reservations may have evicted cached blocks
  if (sched.rows.empty() && running_.empty() && waiting_.empty() && step_background()) {
    update_gauges();
    return true;
  }
  if (sched.rows.empty()) {
    reap_finished();
    update_gauges();
    if (!running_.empty() || !waiting_.empty()) std::this_thread::yield();
    return false;
  }
  run_batch(sched.rows);
  metrics_.update([&](MetricsSnapshot& s) {
    ++s.steps;
    s.batched_rows += sched.n_rows;
  });
  reap_finished();
  update_gauges();
  return true;
}

Status Engine::inject(const char* point, const Sequence& seq) const {
  for (const FaultSpec& f : cfg_.faults) {
    if (f.point != point || seq.params.share_text.find(f.marker) == std::string::npos) continue;
    const std::string what = std::string("injected fault at ") + point;
    if (f.kind == "throw") throw std::runtime_error(what);
    if (f.kind == "oom") throw std::bad_alloc();
    return internal(what);
  }
  return Status::ok();
}

Status Engine::build_batch(std::span<const ScheduledRows> rows, Batch& b) {
  std::vector<int32_t> pos;
  std::vector<uint8_t> out;
  for (size_t s = 0; s < rows.size(); ++s) {
    Sequence& seq = *rows[s].seq;
    KVS_RETURN_IF_ERROR(inject("forward", seq));
    b.views.push_back({seq.table.ids()});
    model::SeqHook* hook = nullptr;
    pos.clear();
    out.clear();
    for (int64_t p = seq.repair_pos; p < seq.repair_pos + rows[s].repair; ++p) {
      pos.push_back(static_cast<int32_t>(p));
      out.push_back(0);
    }
    if (seq.blend) {
      seq.blend->next_rows(rows[s].take, pos, out);
      hook = seq.blend->hook();
    } else {
      for (int64_t p = seq.n_computed; p < seq.n_computed + rows[s].take; ++p) {
        pos.push_back(static_cast<int32_t>(p));
        out.push_back(seq.wants_logits(p));
      }
    }
    for (size_t i = 0; i < pos.size(); ++i) b.ub.add(seq.tokens[pos[i]], pos[i], static_cast<int32_t>(s), out[i]);
    b.hooks.push_back(hook);
    b.any_hook |= hook != nullptr;
  }
  return Status::ok();
}

Status Engine::run_forward(Batch& b, std::vector<float>& logits) {
  try {
    std::span<model::SeqHook* const> hooks;
    if (b.any_hook) hooks = b.hooks;
    return model_.forward(b.ub, b.views, kv_->storage(), logits, pool_.get(), hooks);
  } catch (const std::bad_alloc&) {
    return internal("out of memory in the forward");
  } catch (const std::exception& e) {
    return internal(std::string("forward: ") + e.what());
  }
}

Status Engine::forward_only(std::span<const ScheduledRows> rows) {
  Batch b;
  std::vector<float> logits;  // (0 x n_vocab): no row asks for logits
  try {
    KVS_RETURN_IF_ERROR(build_batch(rows, b));
  } catch (const std::exception& e) {
    return internal(std::string("building the batch: ") + e.what());
  }
  return run_forward(b, logits);
}

// Runs the rows in one forward and commits them. A failed forward is retried sequence by sequence (rows and hooks
// are idempotent until commit: a rerun rewrites the same slots), so a fault fails only the requests it belongs to.
void Engine::run_batch(std::span<const ScheduledRows> rows) {
  Batch b;
  std::vector<float> logits;
  const auto t0 = Clock::now();
  Status st = Status::ok();
  try {
    st = build_batch(rows, b);
  } catch (const std::exception& e) {
    st = internal(std::string("building the batch: ") + e.what());
  }
  if (st.is_ok()) st = run_forward(b, logits);
  if (st.is_ok()) {
    trace_step(rows, seconds_between(t0, Clock::now()) * 1000.0);
    commit(rows, logits);
    return;
  }
  if (rows.size() == 1) {
    std::fprintf(stderr, "kvshare engine: request %llu failed in the forward: %s\n",
                 static_cast<unsigned long long>(rows[0].seq->handle->id()), st.to_string().c_str());
    finish(*rows[0].seq, "error", st);
    return;
  }
  for (const ScheduledRows& r : rows) run_batch(std::span(&r, 1));
}

void Engine::trace_step(std::span<const ScheduledRows> rows, double forward_ms) {
  StepTrace t;
  t.forward_ms = forward_ms;
  for (const ScheduledRows& r : rows) {
    const Sequence& seq = *r.seq;
    t.rows += r.take + r.repair;
    t.repair_rows += r.repair;
    ++t.sequences;
    if (seq.blend) {
      ++t.blend_sequences;
      (seq.blend->phase() == Blend::Phase::kScore ? t.blend_score_rows : t.blend_selected_rows) += r.take;
      continue;
    }
    const int64_t prompt_rows = std::clamp<int64_t>(seq.n_prompt - seq.n_computed, 0, r.take);
    t.prefill_rows += prompt_rows;
    t.decode_rows += r.take - prompt_rows;
  }
  observe_prefill(t.prefill_rows, forward_ms);
  if (cfg_.on_step) cfg_.on_step(t);
}

// Repair rows [repair_pos, repair_pos + repair) ran before this step's `take` rows. When they reached those rows,
// these attended over exact KV too; once nothing is behind, the sequence is exact.
void Engine::commit_repair(Sequence& seq, int64_t repair, int64_t take) {
  if (seq.repair_pos < 0) return;
  seq.repair_pos += repair;
  if (seq.repair_pos == seq.n_computed) seq.repair_pos += take;
  seq.usage.repair_rows += repair;
  if (repair > 0) metrics_.update([&](MetricsSnapshot& s) { s.repair_rows += repair; });
  if (seq.repair_pos < seq.n_computed + take) return;
  seq.repair_pos = -1;
  seq.approximate = false;
  seq.usage.share.repaired_after_tokens = seq.n_generated();
  metrics_.update([](MetricsSnapshot& s) { ++s.repaired_sequences; });
}

void Engine::commit_prompt_rows(Sequence& seq, int64_t take) {
  const int64_t prompt_rows = std::clamp<int64_t>(seq.n_prompt - seq.n_computed, 0, take);
  seq.n_computed += take;
  if (prompt_rows > 0) {
    seq.usage.computed_prompt_tokens += prompt_rows;
    metrics_.update([&](MetricsSnapshot& s) { s.computed_prompt_tokens += prompt_rows; });
  }
  if (cfg_.prefix_cache && !seq.approximate) {
    publish(seq);
    if (seq.n_computed >= seq.n_prompt) maybe_donate(seq);
  }
}

// The prompt rows of this step that asked for logits (Sequence::wants_logits, echo scoring) come first in the
// sequence's logits, in position order: row p scores tokens[p + 1]. Returns how many logits rows they used.
int64_t Engine::score_prompt_rows(Sequence& seq, int64_t take, std::span<const float> logits) {
  const int64_t n_vocab = model_.hparams().n_vocab;
  const int64_t scored_before = static_cast<int64_t>(seq.prompt_lp.size());
  int64_t used = 0;
  for (int64_t p = seq.n_computed; p < seq.n_computed + take; ++p) {
    if (!(p + 1 < seq.n_prompt && p >= scored_before)) continue;
    KVS_CHECK(p == static_cast<int64_t>(seq.prompt_lp.size()));  // rows are computed in order from 0
    seq.prompt_lp.push_back(token_logprob(logits.subspan(used * n_vocab, n_vocab), seq.tokens[p + 1],
                                          std::max<int32_t>(seq.params.logprobs, 0)));
    ++used;
  }
  return used;
}

void Engine::commit(std::span<const ScheduledRows> rows, std::span<float> logits) {
  const int64_t n_vocab = model_.hparams().n_vocab;
  int64_t out_row = 0;
  for (const ScheduledRows& r : rows) {
    Sequence& seq = *r.seq;
    bool sample = false;
    if (seq.blend) {
      seq.blend->commit();
      sample = seq.blend->done();  // its last row, n - 1, ran in this step
      if (sample) finish_blend(seq);
    } else {
      if (seq.params.prompt_logprobs) out_row += score_prompt_rows(seq, r.take, logits.subspan(out_row * n_vocab));
      commit_repair(seq, r.repair, r.take);
      commit_prompt_rows(seq, r.take);
      sample = seq.pending_rows() == 0;
    }
    if (!sample) continue;
    std::span<float> row = logits.subspan(out_row * n_vocab, n_vocab);
    ++out_row;
    if (seq.done) continue;
    if (seq.handle->cancelled()) {
      finish(seq, "cancelled");
      continue;
    }
    try {
      if (Status st = inject("sample", seq); !st.is_ok()) {
        finish(seq, "error", st);
        continue;
      }
      std::vector<float> first;  // before the sampler: it may scale or penalise the row in place
      if (seq.params.want_first_logits && seq.n_generated() == 0) first.assign(row.begin(), row.end());
      std::vector<float> raw;    // (n_vocab) the raw row, for logprobs
      if (seq.params.logprobs >= 0) raw.assign(row.begin(), row.end());
      const int32_t token = seq.sampler.sample(row, seq.tokens);
      std::optional<TokenLogprob> lp;
      if (!raw.empty()) lp = token_logprob(raw, token, seq.params.logprobs);
      emit_token(seq, token, std::move(first), std::move(lp));
    } catch (const std::exception& e) {
      fail(seq, "sampling", e);
    }
  }
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
  seq.blend.reset();  // it reads the table: drop it first
  seq.donor.reset();
  seq.background = wants_background(seq, reason);
  if (!seq.background) kv_->release(seq.table);
  const auto now = Clock::now();
  seq.usage.prompt_tokens = seq.n_prompt;
  seq.usage.completion_tokens = seq.n_generated();
  seq.usage.total_ms = seconds_between(seq.handle->created(), now) * 1000.0;
  if (seq.donation.truncated) {
    seq.usage.share.shareable_tokens = std::min<int64_t>(seq.donation.shareable_tokens, seq.n_prompt);
    seq.usage.share.donation_limit = seq.donation.reason;
  }
  ev.finished = true;
  ev.finish_reason = reason;
  attach_prompt_logprobs(seq, ev);
  ev.usage = seq.usage;
  record_finished(seq, reason);
  ev.error = error;
  // Metrics first, so a client that reads them after its final event sees its blocks returned.
  metrics_.update([&](MetricsSnapshot& s) {
    if (reason == "cancelled") ++s.requests_cancelled;
    else if (reason == "error") ++s.requests_failed;
    else ++s.requests_finished;
    if (reason == "stop") ++s.finished_stop;
    if (reason == "length") ++s.finished_length;
    s.e2e.observe(seq.usage.total_ms / 1000.0);
    if (seq.n_computed >= seq.n_prompt || seq.n_generated() > 0) {  // its prompt was computed: by which mode
      const ShareReport& r = seq.usage.share;
      ++(r.fell_back ? s.mode_fell_back : r.mode == "semantic" ? s.mode_semantic : r.mode == "prefix" ? s.mode_prefix : s.mode_full);
    }
    if (seq.scheduled_once) {
      const double first_token_ms = seq.n_generated() > 0 ? seq.usage.ttft_ms : seq.usage.total_ms;
      s.queue_time.observe(seq.usage.queue_ms / 1000.0);
      s.prefill_time.observe(std::max(0.0, first_token_ms - seq.usage.queue_ms) / 1000.0);
      if (seq.n_generated() > 0) s.decode_time.observe(std::max(0.0, seq.usage.total_ms - seq.usage.ttft_ms) / 1000.0);
    }
    if (reason == "stop" || reason == "length") {
      s.prompt_len.observe(static_cast<double>(seq.n_prompt));
      s.generation_len.observe(static_cast<double>(seq.n_generated()));
    }
    if (seq.background) ++s.background_pending;  // visible before the client's final event
    s.kv_blocks_free = kv_->pool().num_free();
    s.kv_blocks_cached = kv_->pool().num_cached();
  });
  seq.handle->push(std::move(ev));
}

void Engine::record_finished(const Sequence& seq, const std::string& reason) {
  try {
    RequestRecord r;
    r.id = seq.handle->id();
    r.request_id = seq.params.request_id;
    r.tenant = seq.params.tenant;
    r.domain = seq.params.domain;
    r.finished_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
    r.finish_reason = reason;
    r.prompt.assign(seq.tokens.begin(), seq.tokens.begin() + static_cast<std::ptrdiff_t>(seq.n_prompt));
    r.usage = seq.usage;
    r.trace = seq.trace;
    requests_.add(std::move(r));
  } catch (const std::exception& e) {  // the log is for the dashboard: the request itself goes on
    std::fprintf(stderr, "kvshare engine: request %llu not logged: %s\n",
                 static_cast<unsigned long long>(seq.handle->id()), e.what());
  }
}

void Engine::fail(Sequence& seq, const std::string& where, const std::exception& e) {
  const bool oom = dynamic_cast<const std::bad_alloc*>(&e) != nullptr;
  const std::string msg = where + ": " + (oom ? std::string("out of memory") : std::string(e.what()));
  std::fprintf(stderr, "kvshare engine: request %llu failed in %s\n",
               static_cast<unsigned long long>(seq.handle->id()), msg.c_str());
  finish(seq, "error", internal(msg));
}

// The prompt's scores go out once, on the first event that carries tokens or finishes the request.
void Engine::attach_prompt_logprobs(Sequence& seq, StreamEvent& ev) {
  if (!seq.params.prompt_logprobs || seq.prompt_lp_sent) return;
  seq.prompt_lp_sent = true;
  ev.prompt_logprobs = std::move(seq.prompt_lp);
  seq.prompt_lp.assign(ev.prompt_logprobs.size(), TokenLogprob{});  // keeps its size: those rows are scored
}

void Engine::emit_token(Sequence& seq, int32_t token, std::vector<float> first_logits, std::optional<TokenLogprob> lp) {
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
    if (!first_logits.empty()) {  // an empty answer still reports what its (end) token was sampled from
      StreamEvent ev;
      ev.logits = std::move(first_logits);
      seq.handle->push(std::move(ev));
    }
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
    ev.logits = std::move(first_logits);
    if (lp) ev.logprobs.push_back(std::move(*lp));
    attach_prompt_logprobs(seq, ev);
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
  keep_background();
  auto done = [](const std::unique_ptr<Sequence>& s) { return s->done; };
  running_.erase(std::remove_if(running_.begin(), running_.end(), done), running_.end());
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), done), waiting_.end());
}

void Engine::update_gauges() {
  n_waiting_.store(static_cast<int64_t>(waiting_.size()));
  metrics_.update([&](MetricsSnapshot& s) {
    s.running = static_cast<int64_t>(running_.size());
    s.waiting = static_cast<int64_t>(waiting_.size());
    s.kv_blocks_free = kv_->pool().num_free();
    s.kv_blocks_cached = kv_->pool().num_cached();
    s.background_pending = static_cast<int64_t>(background_.size());
    s.donors = donors_ ? static_cast<int64_t>(donors_->size()) : 0;
  });
}

}  // namespace kvs::engine
