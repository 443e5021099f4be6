// Engine: semantic admission (donor retrieval, alignment, KV editing, selective recompute) and donation.
// (The first cfg.blend_layer + 1 layers compute every row past the exact prefix; see EngineConfig.)
//
//   prompt ──embedding──► DonorStore::search (same share domain) ──► align each candidate (EditScript)
//          ──► share::plan (full / prefix / semantic by predicted saving)
//   semantic:  exact-prefix blocks shared │ donor KEEP runs copied + re-rotated │ fresh blocks for the rest
//          ──► forward: layers 0..L compute every row past the exact prefix; the hook scores reused rows by
//              K/V deviation (fresh vs reused), the guard may fall back to full, else the top-r rows join the
//              recompute set and layers L+1.. compute only those ──► first token sampled from the last row.
#include <algorithm>
#include <cmath>

#include "engine/engine.h"
#include "kv/rope_shift.h"
#include "share/deviation_score.h"

namespace kvs::engine {

namespace {

// At most this many query rows weigh the attention-weighted V deviation (the last ones: nearest the answer).
constexpr size_t kMaxAttnQueries = 64;

}  // namespace

bool Engine::try_semantic(Sequence& seq) {
  const ShareMode mode = seq.params.share_mode;
  if (!donors_) return false;
  if (mode != ShareMode::kAuto && mode != ShareMode::kSemantic && mode != ShareMode::kNaive) return false;
  if (seq.params.embedding.empty() && !seq.params.share_text.empty()) {
    // Embedded here, on the engine's pool (one pool for the two cores; a second one would fight it). The time
    // counts toward this request's TTFT, as it should.
    auto emb = embedder_->embed(seq.params.share_text, pool_.get());
    if (emb.is_ok()) seq.params.embedding = std::move(emb).value();
  }
  if (seq.params.embedding.empty()) return false;
  const int64_t bs = kv_->block_size();
  const int32_t n = static_cast<int32_t>(seq.tokens.size());
  const uint64_t domain = seq.params.domain;
  const bool naive = mode == ShareMode::kNaive;
  metrics_.update([](MetricsSnapshot& s) { ++s.semantic_queries; });

  // 1. Candidates by embedding, re-ranked by the tokens the alignment keeps.
  auto prefix_hit = kv_->match_prefix(domain, seq.tokens);
  const int32_t hit_tokens = static_cast<int32_t>(prefix_hit.size() * bs);
  // Forced modes (evaluation) skip the cost model but not the similarity threshold: an unrelated donor is no donor.
  const float min_sim = static_cast<float>(cfg_.planner.similarity_threshold);
  share::SemanticCandidate best;
  const share::Donor* donor = nullptr;
  for (const auto& c : donors_->search(domain, seq.params.embedding, cfg_.donor_candidates, min_sim)) {
    const share::Donor* d = donors_->get(c.donor_id);
    if (!d || d->domain != domain || d->n_valid == 0) continue;
    std::span<const int32_t> dt(d->tokens.data(), std::min<size_t>(d->tokens.size(), d->usable_tokens(bs)));
    align::AlignOptions ao;
    ao.max_edit_distance = cfg_.max_edit_distance;
    align::EditScript script = align::align(dt, seq.tokens, ao);
    if (!donor || script.kept() > best.script.kept()) {
      donor = d;
      best = share::SemanticCandidate{static_cast<int64_t>(c.donor_id), c.similarity, std::move(script)};
    }
  }
  if (!donor) return false;

  // 2. Plan. Forced modes (eval) skip the cost model.
  share::PlannerConfig pc = cfg_.planner;
  std::optional<double> ratio;
  if (seq.params.recompute_ratio >= 0) ratio = seq.params.recompute_ratio;
  if (naive) ratio = 0.0;
  share::ReusePlan plan;
  if (mode == ShareMode::kAuto) {
    share::PlanRequest req{n, static_cast<int32_t>(model_.hparams().n_layer), hit_tokens, &best, ratio};
    auto p = share::plan(req, pc);
    if (!p.is_ok() || p.value().mode != share::ReuseMode::kSemantic) return false;
    plan = std::move(p).value();
  } else {
    auto p = share::semantic_plan(n, best.donor_id, best.script);
    if (!p.is_ok() || best.script.kept() == 0) return false;
    plan = std::move(p).value();
  }

  // 3. Build the KV: pin the donor's blocks (allocation must not evict them), share the exact prefix, reserve
  //    the rest, copy + re-rotate the reused runs.
  std::vector<kv::BlockRef> pins;
  for (int32_t i = 0; i < donor->n_valid; ++i) pins.push_back(kv::BlockRef::share(&kv_->pool(), donor->blocks[i]));
  const std::vector<kv::BlockId> donor_blocks(donor->blocks.begin(), donor->blocks.begin() + donor->n_valid);
  const int64_t shared = kv_->adopt_prefix(seq.table, domain, seq.tokens, prefix_hit);
  if (!kv_->reserve(seq.table, n).is_ok()) {
    kv_->release(seq.table);
    return false;
  }
  const auto& hp = model_.hparams();
  for (const auto& run : plan.reused) {
    int32_t src = run.src, dst = run.dst, len = run.n;
    if (dst < shared) {  // the part inside shared prefix blocks is already there (and read-only)
      const int32_t skip = std::min<int32_t>(len, static_cast<int32_t>(shared) - dst);
      src += skip;
      dst += skip;
      len -= skip;
    }
    if (len > 0)
      kv::copy_and_shift(kv_->storage(), donor_blocks, src, seq.table.ids(), dst, len, model_.rope(), hp.rope_type);
  }

  // 4. Selective recompute forward over rows [first, n).
  const int32_t first = std::max<int32_t>(static_cast<int32_t>(shared), plan.exact_prefix);
  KVS_CHECK_MSG(first < n, "the last prompt token must be computed");  // match_prefix and the plan cap at n - 1
  model::UBatch ub;
  for (int32_t p = first; p < n; ++p) ub.add(seq.tokens[p], p, 0, p == n - 1);
  const std::vector<int32_t> candidates = plan.deviation_candidates();
  std::vector<float> scores;
  bool fell_back = false;
  model::ForwardHooks hooks;
  const share::DeviationScorer scorer = seq.params.deviation.value_or(cfg_.deviation);
  hooks.on_layer_kv = [&](int layer, std::span<const int32_t> rows, const float* q, const float* k, const float* v) {
    std::vector<int32_t> keep;
    // Layer 0's K/V depend only on the token and its position, so reused rows match exactly there; context
    // differences show from layer 1 on (CacheBlend selects at layer 1 too). Rows are all still active here.
    if (layer != cfg_.blend_layer) return keep;  // keep all remaining rows
    const share::HeadShape hs{hp.n_head, hp.n_head_kv, hp.head_dim};
    const int64_t kvd = hs.kv_dim();
    const kv::KvStorage& st = kv_->storage();
    auto slot_k = [&](int32_t p) { return st.k(layer, seq.table.ids()[p / bs], 0) + (p % bs) * hs.head_dim; };
    auto slot_v = [&](int32_t p) { return st.v(layer, seq.table.ids()[p / bs], 0) + (p % bs) * hs.head_dim; };
    const int64_t stride = st.block_size() * hs.head_dim;  // between KV heads of one slot
    if (!naive) {
      // Rows are the positions [first, n) in order, all still active here; the cache still holds the reused
      // (donor) K/V of those positions, and exact K/V before `first`.
      scores.assign(candidates.size(), 0.0f);  // candidates inside the shared prefix are exact: 0
      for (size_t c = 0; c < candidates.size(); ++c) {
        const int32_t p = candidates[c];
        if (p < first) continue;
        scores[c] = share::relative_kv_deviation(hs, k + (p - first) * kvd, v + (p - first) * kvd, slot_k(p), slot_v(p),
                                                 stride);
      }
      std::vector<float> rank;
      if (scorer == share::DeviationScorer::kAttnV) {
        std::vector<float> k_all(static_cast<size_t>(n) * kvd);  // (n, kv_dim) this layer's K, fresh past `first`
        for (int32_t p = 0; p < n; ++p)
          for (int64_t g = 0; g < hs.n_head_kv; ++g)
            std::copy_n(p >= first ? k + (p - first) * kvd + g * hs.head_dim : slot_k(p) + g * stride, hs.head_dim,
                        k_all.begin() + p * kvd + g * hs.head_dim);
        std::vector<int32_t> q_pos;  // the rows recomputed anyway (inserted + last), the last kMaxAttnQueries
        for (int32_t p : plan.recompute.positions())
          if (p >= first) q_pos.push_back(p);
        if (q_pos.size() > kMaxAttnQueries) q_pos.erase(q_pos.begin(), q_pos.end() - kMaxAttnQueries);
        const int64_t qd = hs.n_head * hs.head_dim;
        std::vector<float> qs(q_pos.size() * qd);  // (q_pos, n_head * head_dim)
        for (size_t i = 0; i < q_pos.size(); ++i) std::copy_n(q + (q_pos[i] - first) * qd, qd, qs.begin() + i * qd);
        std::vector<float> dv(candidates.size() * hs.n_head_kv, 0.0f);  // (candidates, n_head_kv)
        for (size_t c = 0; c < candidates.size(); ++c) {
          const int32_t p = candidates[c];
          if (p < first) continue;
          for (int64_t g = 0; g < hs.n_head_kv; ++g) {
            const float* vn = v + (p - first) * kvd + g * hs.head_dim;
            const float* vo = slot_v(p) + g * stride;
            double d2 = 0;
            for (int64_t t = 0; t < hs.head_dim; ++t) d2 += (vn[t] - vo[t]) * (vn[t] - vo[t]);
            dv[c * hs.n_head_kv + g] = static_cast<float>(std::sqrt(d2));
          }
        }
        rank = share::attention_weighted_v_deviation(hs, k_all, n, qs, q_pos, dv, candidates);
      }
      auto r = share::refine_with_deviation(plan, scores, pc, ratio, rank);
      if (r.is_ok() && r.value() == share::RefineOutcome::kFellBack) {
        fell_back = true;
        return keep;  // full: keep every row
      }
    }
    for (int32_t pos : plan.recompute.positions())
      if (pos >= first) keep.push_back(pos - first);
    (void)rows;
    return keep;
  };
  std::vector<float> logits;
  model::SeqKvView view{seq.table.ids()};
  Status st = model_.forward(ub, std::span(&view, 1), kv_->storage(), logits, pool_.get(), &hooks);
  pins.clear();
  if (!st.is_ok()) {
    finish(seq, "error", st);
    return true;
  }

  // 5. Book-keeping, report, first token.
  seq.n_computed = n;
  seq.approximate = !fell_back;
  int64_t recomputed = fell_back ? n - first : 0;
  if (!fell_back)
    for (int32_t pos : plan.recompute.positions()) recomputed += pos >= first;
  ShareReport& rep = seq.usage.share;
  rep.mode = fell_back ? "full" : "semantic";
  rep.fell_back = fell_back;
  rep.donor_id = best.donor_id;
  rep.similarity = best.similarity;
  rep.edit_script = best.script.to_string(16);
  rep.total_tokens = n;
  rep.recomputed_tokens = recomputed;
  rep.reused_tokens = n - recomputed;
  if (!scores.empty()) {
    std::vector<float> sorted = scores;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    rep.deviation_median = sorted[sorted.size() / 2];
    rep.deviation = share::deviation_scorer_name(scorer);
  }
  seq.usage.cached_tokens = rep.reused_tokens;
  seq.usage.computed_prompt_tokens = recomputed;
  seq.usage.queue_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - seq.handle->created()).count();
  metrics_.update([&](MetricsSnapshot& s) {
    s.prompt_tokens += n;
    s.computed_prompt_tokens += recomputed;
    if (fell_back) {
      ++s.semantic_fallbacks;
    } else {
      ++s.semantic_hits;
      s.semantic_reused_tokens += rep.reused_tokens;
      s.semantic_recomputed_tokens += recomputed;
    }
  });
  if (fell_back && cfg_.prefix_cache) {
    kv_->publish(seq.table, domain, seq.tokens, seq.n_computed);
    maybe_donate(seq);
  }
  emit_token(seq, seq.sampler.sample(std::span<float>(logits.data(), hp.n_vocab), seq.tokens));
  return true;
}

void Engine::maybe_donate(Sequence& seq) {
  if (!donors_ || seq.donated || seq.approximate || seq.params.embedding.empty()) return;
  if (seq.params.share_mode == ShareMode::kFull || seq.params.share_mode == ShareMode::kPrefix) return;
  seq.donated = true;
  const int64_t bs = kv_->block_size();
  std::vector<kv::BlockId> blocks;
  const int64_t full = std::min<int64_t>(seq.n_prompt / bs, seq.table.n_published);
  for (int64_t i = 0; i < full; ++i) {
    const kv::BlockId b = seq.table.ids()[i];
    if (!kv_->pool().block(b).cached) break;  // another block holds this key: stop (ours will not stay valid)
    blocks.push_back(b);
  }
  std::span<const int32_t> prompt(seq.tokens.data(), seq.n_prompt);
  // The partial last block too (a copy of its prompt slots: decode keeps writing ours), so that short prompts
  // lend all their tokens, not only their full blocks.
  if (static_cast<int64_t>(blocks.size()) == seq.n_prompt / bs)
    if (auto tail = kv_->publish_tail(seq.table, seq.params.domain, prompt)) blocks.push_back(*tail);
  donors_->add(seq.params.domain, prompt, blocks, seq.params.embedding);
}

}  // namespace kvs::engine
