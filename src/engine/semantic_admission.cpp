#include "engine/semantic_admission.h"

#include <algorithm>
#include <unordered_map>

#include "kv/rope_shift.h"
#include "share/run_retrieval.h"

namespace kvs::engine {

namespace {

// The candidate whose alignment keeps the most prompt tokens (nullopt: none of them usable).
std::optional<share::SemanticCandidate> best_aligned(const share::DonorStore& donors, const kv::KvManager& kv,
                                                     uint64_t domain, std::span<const int32_t> tokens,
                                                     std::span<const share::DonorCandidate> cands,
                                                     const FindDonorOptions& opt, bool by_runs) {
  const int32_t bs = kv.block_size();
  std::optional<share::SemanticCandidate> best;
  for (const auto& c : cands) {
    const share::Donor* d = donors.get(c.donor_id);
    if (!d || d->domain != domain || d->n_valid == 0) continue;
    std::span<const int32_t> dt(d->tokens.data(), static_cast<size_t>(d->usable_tokens(bs)));
    align::AlignOptions ao;
    ao.max_edit_distance = opt.max_edit_distance;
    align::EditScript script = align::align(dt, tokens, ao);
    if (!best || script.kept() > best->script.kept())
      best = share::SemanticCandidate{static_cast<int64_t>(c.donor_id), c.similarity, std::move(script), by_runs};
  }
  return best;
}

// Plans the request on `best` (its own donor, if any) and, with fragments, runs of other donors.
std::optional<DonorChoice> plan_choice(const share::DonorStore& donors, const kv::KvManager& kv, uint64_t domain,
                                       std::span<const int32_t> tokens, std::optional<share::SemanticCandidate> donor,
                                       const FindDonorOptions& opt) {
  const int32_t bs = kv.block_size();
  const int32_t n = static_cast<int32_t>(tokens.size());
  std::optional<DonorChoice> best;
  if (donor) {
    best.emplace();
    best->donor = std::move(*donor);
  }
  const bool have_donor = best && best->donor.script.kept() > 0;
  const bool fragments = opt.fragments && donors.fragments() != nullptr;
  if (!have_donor && !fragments) return {};
  if (!have_donor) best.emplace();
  std::optional<double> ratio = opt.recompute_ratio;
  if (opt.mode == ShareMode::kNaive) ratio = 0.0;
  share::ReusePlan base;
  if (have_donor) {
    auto p = share::semantic_plan(n, best->donor.donor_id, best->donor.script);
    if (!p.is_ok()) return {};
    base = std::move(p).value();
  } else {
    base = share::insert_only_plan(n);
  }
  const std::vector<share::ReusedRun> runs =
      fragments ? share::cover_with_fragments(donors, domain, tokens, base, bs, opt.cover) : std::vector<share::ReusedRun>{};
  if (!have_donor && runs.empty()) return {};
  if (!have_donor) best->donor = share::SemanticCandidate{-1, 0.0, base.script};
  share::add_fragment_runs(base, runs);
  best->prefix_hit_tokens = static_cast<int32_t>(kv.match_prefix(domain, tokens).size()) * bs;
  if (opt.mode == ShareMode::kAuto) {
    share::PlanRequest req{n, opt.n_layer, best->prefix_hit_tokens, &best->donor, ratio};
    // One donor alone: the planner prices its script; with fragments, the plan is priced from its own sets.
    auto p = runs.empty() ? share::plan(req, opt.planner) : share::plan_ready(std::move(base), req, opt.planner);
    if (!p.is_ok() || p.value().mode != share::ReuseMode::kSemantic) return {};
    best->plan = std::move(p).value();
  } else {
    best->plan = std::move(base);
    if (opt.mode != ShareMode::kNaive) share::add_edit_aware(best->plan, opt.planner.edit_window, opt.planner.edit_tail);
  }
  return best;
}

}  // namespace

std::optional<DonorChoice> find_donor(const share::DonorStore& donors, const kv::KvManager& kv, uint64_t domain,
                                      std::span<const int32_t> tokens, std::span<const float> embedding,
                                      const FindDonorOptions& opt) {
  if (opt.mode != ShareMode::kAuto && opt.mode != ShareMode::kSemantic && opt.mode != ShareMode::kNaive) return {};
  if (embedding.empty() || tokens.empty()) return {};
  // Forced modes (evaluation) skip the cost model but not the similarity threshold: an unrelated donor is no donor.
  const float min_sim = static_cast<float>(opt.planner.similarity_threshold);
  const auto cands = donors.search(domain, embedding, opt.candidates, min_sim);
  return plan_choice(donors, kv, domain, tokens, best_aligned(donors, kv, domain, tokens, cands, opt, false), opt);
}

std::optional<DonorChoice> find_donor_by_runs(const share::DonorStore& donors, const kv::KvManager& kv,
                                              uint64_t domain, std::span<const int32_t> tokens,
                                              const FindDonorOptions& opt, double min_kept) {
  if (opt.mode != ShareMode::kAuto && opt.mode != ShareMode::kSemantic && opt.mode != ShareMode::kNaive) return {};
  if (tokens.empty() || !(min_kept > 0.0)) return {};
  const int32_t bs = kv.block_size();
  const int32_t from = static_cast<int32_t>(kv.match_prefix(domain, tokens).size()) * bs;
  std::vector<share::DonorCandidate> cands;
  for (const auto& c : share::donors_by_runs(donors, domain, tokens, from, bs, std::max(opt.candidates, 1)))
    cands.push_back({c.donor_id, 0.0f});
  auto donor = best_aligned(donors, kv, domain, tokens, cands, opt, true);
  if (!donor || static_cast<double>(donor->script.kept()) < min_kept * static_cast<double>(tokens.size())) return {};
  return plan_choice(donors, kv, domain, tokens, std::move(donor), opt);
}

Result<int32_t> build_kv(kv::KvManager& kv, const share::DonorStore& donors, const DonorChoice& choice,
                         uint64_t domain, std::span<const int32_t> tokens, kv::BlockTable& table,
                         std::span<const kernels::RopeTable* const> layer_rope, kernels::RopeType rope_type) {
  KVS_CHECK(table.size() == 0);
  const int32_t n = static_cast<int32_t>(tokens.size());
  // Every donor the plan reads must still hold the slots it reads (a donor may have shrunk since planning).
  std::unordered_map<int64_t, const share::Donor*> by_id;
  for (const auto& run : choice.plan.reused) {
    const int64_t id = choice.plan.donor_of(run);
    const share::Donor* d = id >= 0 ? donors.get(static_cast<uint64_t>(id)) : nullptr;
    if (!d || d->domain != domain || d->usable_tokens(kv.block_size()) < run.src + run.n)
      return not_found("a donor's KV is no longer cached");
    by_id[id] = d;
  }
  // Pins: reserve() below must not evict the blocks we copy from (RAII: released when build_kv returns).
  std::vector<kv::BlockRef> pins;
  for (const auto& [id, d] : by_id)
    for (int32_t i = 0; i < d->n_valid; ++i) pins.push_back(kv::BlockRef::share(&kv.pool(), d->blocks[i]));
  const auto hit = kv.match_prefix(domain, tokens);
  const int64_t shared = kv.adopt_prefix(table, domain, tokens, hit);
  if (Status st = kv.reserve(table, n); !st.is_ok()) {
    kv.release(table);
    return st;
  }
  for (const auto& run : choice.plan.reused) {
    int32_t src = run.src, dst = run.dst, len = run.n;
    if (dst < shared) {  // the part inside shared prefix blocks is already there (and read-only)
      const int32_t skip = std::min<int32_t>(len, static_cast<int32_t>(shared) - dst);
      src += skip;
      dst += skip;
      len -= skip;
    }
    const share::Donor* d = by_id.at(choice.plan.donor_of(run));
    const std::span<const kv::BlockId> donor_blocks(d->blocks.data(), static_cast<size_t>(d->n_valid));
    if (len > 0) kv::copy_and_shift(kv.storage(), donor_blocks, src, table.ids(), dst, len, layer_rope, rope_type);
  }
  const int32_t first = std::max<int32_t>(static_cast<int32_t>(shared), choice.plan.exact_prefix);
  KVS_CHECK_MSG(first < n, "the last prompt token must be computed");  // match_prefix and the plan cap at n - 1
  return first;
}

}  // namespace kvs::engine
