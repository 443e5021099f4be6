// Engine: admission (the SchedulerHost side) and donation.
//
//   waiting ──prepare (bounded per step)──► embedding, prefix hit, donor (find_donor) => predicted_rows
//   admit:  donor still current? ──yes──► build_kv (share prefix, copy + re-rotate donor runs) ──► Blend rows
//           └─no donor / no blocks for it──► exact prefix adopted, first rows reserved ──► prefill rows
//   blend done ──► finish_blend: report, n_computed = n; a fall-back is exact: publish and donate
#include <algorithm>
#include <cstdio>

#include "engine/blend.h"
#include "engine/engine.h"
#include "engine/semantic_admission.h"

namespace kvs::engine {

namespace {
using Clock = std::chrono::steady_clock;

bool semantic_mode(ShareMode m) { return m == ShareMode::kAuto || m == ShareMode::kSemantic || m == ShareMode::kNaive; }
}  // namespace

void Engine::drain_evictions() {
  std::vector<kv::BlockId> evicted = kv_->pool().take_evicted();  // always drained: the queue stays bounded
  if (!donors_ || evicted.empty()) return;
  donors_->apply_evictions(evicted);
  ++donor_generation_;
}

void Engine::prepare_waiting() {
  int32_t budget = cfg_.max_prepare_per_step;
  for (auto& s : waiting_) {
    if (budget == 0) break;
    Sequence& seq = *s;
    const bool stale = seq.donor_searched && seq.donor_generation != donor_generation_ && donors_ &&
                       semantic_mode(seq.params.share_mode) && seq.n_generated() == 0;
    if (seq.done || (seq.donor_searched && !stale)) continue;
    --budget;
    try {
      prepare(seq);
    } catch (const std::exception& e) {
      fail(seq, "preparing the request", e);
    }
  }
}

// Embeds the request (once), finds its donor and predicts its compute. Throws what the embedder or the index throws.
void Engine::prepare(Sequence& seq) {
  const bool first_search = !seq.donor_searched;
  seq.donor_searched = true;
  seq.donor_generation = donor_generation_;
  const int64_t bs = kv_->block_size();
  const bool use_prefix = cfg_.prefix_cache && seq.params.share_mode != ShareMode::kFull;
  if (use_prefix && first_search) promote_prefix(seq);
  const int64_t hit = use_prefix ? static_cast<int64_t>(kv_->match_prefix(seq.params.domain, seq.tokens).size()) * bs : 0;
  seq.predicted_rows = seq.n_prompt - hit;
  seq.donor.reset();
  if (!donors_ || !semantic_mode(seq.params.share_mode) || seq.n_generated() > 0) return;
  FindDonorOptions fo = find_options(seq);
  // Run retrieval first: a donor that repeats a long stretch of the prompt needs no embedding now.
  if (cfg_.run_retrieval > 0 && seq.params.embedding.empty()) {
    if (Status st = inject("search", seq); !st.is_ok()) return finish(seq, "error", st);
    if (auto choice = find_donor_by_runs(*donors_, *kv_, seq.params.domain, seq.tokens, fo, cfg_.run_retrieval)) {
      if (first_search) metrics_.update([](MetricsSnapshot& s) { ++s.semantic_queries, ++s.run_retrievals; });
      return set_donor(seq, std::move(*choice));
    }
  }
  if (seq.params.embedding.empty() && !seq.params.share_text.empty()) {
    // Embedded on the engine's pool (one pool for the cores; a second one would fight it). The time counts
    // toward this request's TTFT, as it should.
    if (Status st = inject("embed", seq); !st.is_ok()) return finish(seq, "error", st);
    const auto t0 = Clock::now();
    auto emb = embedder_->embed(seq.params.share_text, pool_.get());
    seq.usage.embed_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (emb.is_ok()) seq.params.embedding = std::move(emb).value();
  }
  if (seq.params.embedding.empty()) return;
  if (first_search) metrics_.update([](MetricsSnapshot& s) { ++s.semantic_queries; });
  if (Status st = inject("search", seq); !st.is_ok()) return finish(seq, "error", st);
  promote_donor(seq);  // a stored donor evicted from RAM (or from before a restart) becomes a RAM donor again
  auto choice = find_donor(*donors_, *kv_, seq.params.domain, seq.tokens, seq.params.embedding, fo);
  if (choice) set_donor(seq, std::move(*choice));
}

FindDonorOptions Engine::find_options(const Sequence& seq) const {
  FindDonorOptions fo;
  fo.mode = seq.params.share_mode;
  fo.planner = cfg_.planner;
  if (seq.params.edit_window >= 0) fo.planner.edit_window = seq.params.edit_window;
  if (seq.params.edit_tail >= 0) fo.planner.edit_tail = seq.params.edit_tail;
  if (seq.params.recompute_ratio >= 0) fo.recompute_ratio = seq.params.recompute_ratio;
  fo.candidates = cfg_.donor_candidates;
  fo.max_edit_distance = cfg_.max_edit_distance;
  fo.n_layer = static_cast<int32_t>(model_.hparams().n_layer);
  fo.fragments = cfg_.fragments;
  fo.cover.min_run = cfg_.fragment_window;
  fo.cover.short_keep = cfg_.fragment_window;
  fo.cover.tail_guard = cfg_.fragment_tail;
  return fo;
}

void Engine::set_donor(Sequence& seq, DonorChoice choice) {
  seq.predicted_rows = std::min<int64_t>(seq.predicted_rows, static_cast<int64_t>(choice.plan.predicted_cost + 0.5));
  seq.donor = std::make_unique<DonorChoice>(std::move(choice));
}

bool Engine::reserve(Sequence& seq, int64_t take) {
  if (seq.blend) return true;  // build_kv reserved the whole prompt
  bool ok = kv_->reserve(seq.table, seq.n_computed + take).is_ok();
  if (!ok && drop_background()) ok = kv_->reserve(seq.table, seq.n_computed + take).is_ok();  // blocks first
  drain_evictions();
  return ok;
}

void Engine::preempt(Sequence& seq) {
  seq.blend.reset();
  kv_->release(seq.table);
  seq.n_computed = 0;
  seq.approximate = false;
  seq.repair_pos = -1;
  ++seq.usage.preemptions;
  metrics_.update([](MetricsSnapshot& s) { ++s.preemptions; });
}

AdmitResult Engine::admit(Sequence& seq, int64_t budget) {
  try {
    if (Status st = inject("admit", seq); !st.is_ok()) {
      finish(seq, "error", st);
      return AdmitResult::kFailed;
    }
    drain_evictions();
    if (!seq.donor_searched || (seq.donor && seq.donor_generation != donor_generation_)) prepare(seq);
    if (seq.done) return AdmitResult::kFailed;
    const AdmitResult r = seq.donor && admit_semantic(seq) ? AdmitResult::kAdmitted : admit_prefix(seq, budget);
    if (r == AdmitResult::kAdmitted) {
      if (!seq.admitted_once) metrics_.update([&](MetricsSnapshot& s) { s.prompt_tokens += seq.n_prompt; });
      seq.admitted_once = true;
      if (!seq.scheduled_once) {
        seq.scheduled_once = true;
        seq.usage.queue_ms = std::chrono::duration<double, std::milli>(Clock::now() - seq.handle->created()).count();
      }
    }
    return r;
  } catch (const std::exception& e) {
    kv_->release(seq.table);
    seq.n_computed = 0;
    fail(seq, "admission", e);
    return AdmitResult::kFailed;
  }
}

// Builds the donor-edited KV and starts the blend. false: the donor is gone or its blocks do not fit now.
bool Engine::admit_semantic(Sequence& seq) {
  KVS_CHECK(seq.table.size() == 0 && seq.n_generated() == 0);
  std::unique_ptr<DonorChoice> choice = std::move(seq.donor);
  auto first = build_kv(*kv_, *donors_, *choice, seq.params.domain, seq.tokens, seq.table, model_.layer_ropes(),
                        model_.hparams().rope_type);
  drain_evictions();
  if (!first.is_ok()) return false;
  const auto& hp = model_.hparams();
  BlendOptions bo;
  bo.n_layer = static_cast<int32_t>(hp.n_layer);
  bo.blend_layer = cfg_.blend_layer;
  bo.refine_layer = cfg_.refine_layer;
  bo.refine_widen = cfg_.refine_widen;
  bo.scorer = seq.params.deviation.value_or(cfg_.deviation);
  bo.naive = seq.params.share_mode == ShareMode::kNaive;
  bo.planner = cfg_.planner;
  if (seq.params.recompute_ratio >= 0) bo.recompute_ratio = seq.params.recompute_ratio;
  if (bo.naive) bo.recompute_ratio = 0.0;
  bo.heads = share::HeadShape{hp.n_head, hp.n_head_kv, hp.head_dim};
  if (cfg_.blend_layer >= 0 && cfg_.blend_layer < hp.n_layer) {  // the scored layer's window and scale
    bo.heads.window = hp.spec.layers[cfg_.blend_layer].window;
    bo.heads.scale = hp.spec.attn_scale;
  }
  seq.n_computed = first.value();
  seq.approximate = true;
  ShareReport& rep = seq.usage.share;
  rep = ShareReport{};
  rep.mode = "semantic";
  const std::vector<int64_t> used = choice->plan.donors();
  rep.donor_id = choice->donor.donor_id >= 0 ? choice->donor.donor_id : (used.empty() ? -1 : used.front());
  rep.similarity = choice->donor.similarity;
  // A plan of fragments alone (no donor was similar enough) has no own donor to have been found.
  rep.retrieval = choice->donor.by_runs ? "runs" : choice->donor.donor_id >= 0 ? "embedding" : "fragments";
  rep.edit_script = choice->donor.script.to_string(16);
  for (int64_t id : used) {
    ShareDonorUse u;
    u.donor_id = id;
    for (const auto& run : choice->plan.reused)
      if (choice->plan.donor_of(run) == id) {
        u.runs.push_back({run.src, run.dst, run.n});
        u.tokens += run.n;
      }
    rep.donors.push_back(std::move(u));
  }
  seq.trace.reset();
  seq.trace.runs = choice->donor.script.runs;
  seq.trace.exact_prefix = choice->donor.script.exact_prefix();
  if (const share::Donor* d = donors_->get(static_cast<uint64_t>(choice->donor.donor_id))) {
    seq.contains_donor = choice->donor.script.deleted() == 0 &&
                         choice->donor.script.kept() == static_cast<int64_t>(d->tokens.size());
    const size_t n = std::min(d->tokens.size(), static_cast<size_t>(choice->donor.script.donor_len));
    seq.trace.donor_tokens.assign(d->tokens.begin(), d->tokens.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (seq.trace.donor_tokens.size() != static_cast<size_t>(choice->donor.script.donor_len)) seq.trace.runs.clear();
  rep.total_tokens = seq.n_prompt;
  const bool promoted = seq.promoted_donor != 0 && seq.promoted_donor == static_cast<uint64_t>(rep.donor_id);
  set_tier(rep, seq, promoted ? seq.promoted_blocks : 0, promoted ? seq.redis_blocks : 0);
  seq.blend = std::make_unique<Blend>(std::move(choice->plan), first.value(), bo, kv_->storage(), seq.table);
  return true;
}

// Where a reused prompt's promoted blocks came from: "redis" when any was fetched from Redis, "disk" when read
// back from disk, else "ram"; with the Redis cost model's decision when it priced one.
void Engine::set_tier(ShareReport& rep, const Sequence& seq, int64_t promoted, int64_t redis) {
  rep.tier = redis > 0 ? "redis" : promoted > 0 ? "disk" : "ram";
  rep.disk_blocks = promoted;
  rep.redis_blocks = redis;
  rep.remote_decision = seq.remote_decision;
  rep.remote_fetch_s = seq.remote_fetch_s;
  rep.remote_recompute_s = seq.remote_recompute_s;
  metrics_.update([&](MetricsSnapshot& s) {
    ++(redis > 0 ? s.tier_hits_redis : promoted > 0 ? s.tier_hits_disk : s.tier_hits_ram);
  });
}

AdmitResult Engine::admit_prefix(Sequence& seq, int64_t budget) {
  const bool use_prefix = cfg_.prefix_cache && seq.params.share_mode != ShareMode::kFull;
  std::vector<kv::BlockId> hit;
  if (seq.table.size() == 0 && seq.n_computed == 0 && use_prefix) {
    hit = kv_->match_prefix(seq.params.domain, seq.tokens);
    seq.n_computed = kv_->adopt_prefix(seq.table, seq.params.domain, seq.tokens, hit);
  }
  const int64_t take = std::min(seq.pending_rows(), budget);
  const bool ok = kv_->reserve(seq.table, seq.n_computed + take).is_ok();
  drain_evictions();
  if (!ok) {
    // Not enough blocks: give back the adopted prefix (it stays cached) and wait for running requests.
    kv_->release(seq.table);
    seq.n_computed = 0;
    return AdmitResult::kNoBlocks;
  }
  if (seq.n_generated() == 0) {  // this admission computes the prompt: it is what the usage reports
    seq.usage.cached_tokens = seq.n_computed;
    seq.usage.share = ShareReport{};
    seq.usage.share.mode = seq.n_computed > 0 ? "prefix" : "full";
    seq.usage.share.reused_tokens = seq.n_computed;
    seq.usage.share.total_tokens = seq.n_prompt;
    seq.usage.share.recomputed_tokens = seq.n_prompt - seq.n_computed;
    seq.trace.reset();
    seq.trace.exact_prefix = static_cast<int32_t>(seq.n_computed);
    if (seq.n_computed > 0) {
      // Blocks promoted while preparing that this prefix adopted (they were read for this request's prompt).
      const int64_t adopted = seq.n_computed / kv_->block_size();
      set_tier(seq.usage.share, seq, std::min<int64_t>(seq.promoted_blocks, adopted),
               std::min<int64_t>(seq.redis_blocks, adopted));
    }
  }
  if (!seq.admitted_once && use_prefix) {
    metrics_.update([&](MetricsSnapshot& s) {
      ++s.prefix_queries;
      s.prefix_query_tokens += seq.n_prompt;
      if (!hit.empty()) ++s.prefix_hits;
      s.prefix_cached_tokens += seq.n_computed;
    });
  }
  return AdmitResult::kAdmitted;
}

void Engine::finish_blend(Sequence& seq) {
  const Blend& b = *seq.blend;
  const bool fell_back = b.fell_back();
  const int64_t recomputed = b.recomputed_rows();
  ShareReport& rep = seq.usage.share;
  rep.mode = fell_back ? "full" : "semantic";
  rep.fell_back = fell_back;
  rep.recomputed_tokens = recomputed;
  rep.reused_tokens = seq.n_prompt - recomputed;
  if (!b.scores().empty()) {
    std::vector<float> sorted(b.scores().begin(), b.scores().end());
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    rep.deviation_median = sorted[sorted.size() / 2];
    double left = 0;
    for (size_t i = 0; i < b.candidates().size() && !fell_back; ++i)
      if (!b.plan().recompute.contains(b.candidates()[i])) left += b.scores()[i];
    rep.deviation_left = left / static_cast<double>(b.scores().size());
  }
  if (seq.params.share_mode != ShareMode::kNaive)
    rep.deviation = share::deviation_scorer_name(seq.params.deviation.value_or(cfg_.deviation));
  seq.usage.cached_tokens = rep.reused_tokens;
  seq.usage.computed_prompt_tokens += recomputed;
  metrics_.update([&](MetricsSnapshot& s) {
    s.computed_prompt_tokens += recomputed;
    if (fell_back) {
      ++s.semantic_fallbacks;
    } else {
      ++s.semantic_hits;
      s.semantic_reused_tokens += rep.reused_tokens;
      s.semantic_recomputed_tokens += recomputed;
    }
  });
  seq.trace.recomputed.clear();  // the reused positions selection recomputed (all of them after a fall-back)
  for (const align::EditRun& run : seq.trace.runs)
    if (run.op == align::EditOp::kKeep)
      for (int32_t p = run.dst; p < run.dst + run.n; ++p)
        if (fell_back || b.plan().recompute.contains(p)) seq.trace.recomputed.push_back(p);
  const int64_t first = b.first();
  seq.blend.reset();
  seq.n_computed = seq.n_prompt;
  seq.approximate = !fell_back;
  seq.approx_from = seq.approximate ? first : -1;
  if (seq.approximate && cfg_.repair_rows > 0) seq.repair_pos = first;  // rows [first, n) computed over reused KV
  if (fell_back && cfg_.prefix_cache) {  // every row was recomputed: exact, so it may publish and donate
    publish(seq);
    maybe_donate(seq);
  }
}

void Engine::publish(Sequence& seq) {
  kv_->publish(seq.table, seq.params.domain, seq.tokens, std::min(seq.n_computed, seq.donation.shareable_tokens));
}

// The embedding that indexes a donor: the request's own, unless the donation policy cut its text at a sensitive
// span (then the text before it, so that the index holds nothing of the secret). Empty: do not donate.
// A request whose donor was found by shared runs was not embedded at admission: it is embedded now, after its
// first token (the same work, off the time to first token).
std::vector<float> Engine::donor_embedding(Sequence& seq) {
  if (!seq.donation.truncated && seq.params.embedding.empty() && !seq.params.share_text.empty() && embedder_) {
    auto emb = embedder_->embed(seq.params.share_text, pool_.get());
    if (emb.is_ok()) seq.params.embedding = std::move(emb).value();
  }
  if (!seq.donation.truncated) return seq.params.embedding;
  if (seq.donation.donor_text.size() < 8 || !embedder_) return {};
  auto emb = embedder_->embed(seq.donation.donor_text, pool_.get());
  return emb.is_ok() ? std::move(emb).value() : std::vector<float>{};
}

// Registers an exact prompt as a donor: its prompt up to the donation limit (docs/security.md). A failure here
// (the index throws, memory) is logged and the request goes on without donating: its own answer does not
// depend on it.
void Engine::maybe_donate(Sequence& seq) {
  if (!donors_ || seq.donated || seq.approximate) return;
  if (seq.params.embedding.empty() && seq.params.share_text.empty()) return;  // nothing to index it by
  if (seq.params.share_mode == ShareMode::kFull || seq.params.share_mode == ShareMode::kPrefix) return;
  seq.donated = true;
  const int64_t bs = kv_->block_size();
  const int64_t n_share = std::min(seq.n_prompt, seq.donation.shareable_tokens);
  if (n_share < bs) return;  // nothing worth lending (or donation is off)
  try {
    if (Status st = inject("donate", seq); !st.is_ok()) throw std::runtime_error(st.message());
    std::vector<float> embedding = donor_embedding(seq);
    if (embedding.empty()) return;
    std::vector<kv::BlockId> blocks;
    const int64_t full = std::min<int64_t>(n_share / bs, seq.table.n_published);
    for (int64_t i = 0; i < full; ++i) {
      const kv::BlockId b = seq.table.ids()[i];
      if (!kv_->pool().block(b).cached) break;  // another block holds this key: stop (ours will not stay valid)
      blocks.push_back(b);
    }
    // A limited donation ends at its last full block: a tail block is a copy of a whole block, and past the
    // limit its slots hold K/V computed after the sensitive span.
    const int64_t n_tokens = seq.donation.truncated ? static_cast<int64_t>(blocks.size()) * bs : n_share;
    if (n_tokens < bs) return;
    std::span<const int32_t> prompt(seq.tokens.data(), static_cast<size_t>(n_tokens));
    // The partial last block too (a copy of its prompt slots: decode keeps writing ours), so that short prompts
    // lend all their tokens, not only their full blocks.
    if (!seq.donation.truncated && static_cast<int64_t>(blocks.size()) == seq.n_prompt / bs)
      if (auto tail = kv_->publish_tail(seq.table, seq.params.domain, prompt)) blocks.push_back(*tail);
    drain_evictions();  // publish_tail allocates
    const uint64_t id = donors_->add(seq.params.domain, prompt, blocks, embedding);
    seq.trace.donated_as = static_cast<int64_t>(id);
    ++donor_generation_;
    demote_donor(id, seq.params.domain, prompt, blocks, embedding);  // write-on-donate (engine_disk.cpp)
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvshare engine: request %llu not registered as a donor: %s\n",
                 static_cast<unsigned long long>(seq.handle->id()), e.what());
  }
}

}  // namespace kvs::engine
