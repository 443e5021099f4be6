// Semantic admission, the steps before any row runs (pure over the donor store and the KV manager: no model,
// no forward, no clocks; tested alone):
//
//   find_donor  candidates of the request's share domain by embedding (DonorStore::search, similarity >= the
//               planner's threshold) -> align each usable donor prefix with the prompt (EditScript) -> keep the
//               one whose script keeps the most tokens -> plan (kAuto: the planner's cost model may refuse;
//               forced modes skip it) => DonorChoice
//               With fragments (opt.fragments and the store's fragment index): the prompt's positions the
//               donor does not provide (its inserts, its short scattered runs; the whole prompt when no donor is
//               similar enough) are covered by runs of any donors of the domain (share/fragment_cover.h), and the
//               planner prices the multi-donor plan from its own sets (share::plan_ready)
//   find_donor_by_runs  the same, with the candidates found by the token runs they share with the prompt
//               (share/run_retrieval.h) instead of an embedding: no embedding is needed, and the best aligned
//               one is taken only when its script keeps >= min_kept of the prompt (so a shared template
//               phrase is no donor); nullopt otherwise, and the caller embeds and searches as above
//   build_kv    pin every donor's blocks (allocation must not evict them), share the exact-prefix blocks, reserve
//               the rest of the prompt, copy + re-rotate each reused run from its own donor => the first row the
//               blend computes
//
// After build_kv the sequence's slots [0, first) hold exact K/V (shared prefix, or donor slots with the same
// tokens at the same positions), and every other reused slot holds the donor's K/V re-rotated to its new
// position; the rows [first, n) are left to engine::Blend.
#pragma once
#include <cstdint>
#include <optional>
#include <span>

#include "base/status.h"
#include "engine/request.h"
#include "kernels/cpu/rope.h"
#include "kv/kv_manager.h"
#include "share/donor_store.h"
#include "share/fragment_cover.h"
#include "share/planner.h"

namespace kvs::engine {

struct FindDonorOptions {
  ShareMode mode = ShareMode::kAuto;      // kAuto, kSemantic or kNaive (others never look for a donor)
  share::PlannerConfig planner;
  std::optional<double> recompute_ratio;  // per-request r (kNaive: 0)
  int32_t candidates = 4;                 // ANN candidates re-ranked by alignment
  int32_t max_edit_distance = 1024;
  int32_t n_layer = 1;                    // prices the blend layers in the cost model
  bool fragments = false;                 // cover what the donor lacks with runs of other donors
  share::FragmentCoverOptions cover;
};

struct DonorChoice {
  share::ReusePlan plan;            // kSemantic, initial recompute set (inserted + last); may hold fragment runs
  share::SemanticCandidate donor;   // id, similarity, script (fragments alone: id -1, an all-insert script)
  int32_t prefix_hit_tokens = 0;    // what an exact prefix match alone would give
};

// nullopt: no donor above the threshold, none usable, or (kAuto) the planner prefers prefix / full.
// REQUIRES: the owner applied the pool's queued evictions to `donors` (DonorStore's invariant).
std::optional<DonorChoice> find_donor(const share::DonorStore& donors, const kv::KvManager& kv, uint64_t domain,
                                      std::span<const int32_t> tokens, std::span<const float> embedding,
                                      const FindDonorOptions& opt);

// find_donor with candidates by shared runs (share/run_retrieval.h): nullopt unless the best aligned candidate
// keeps >= min_kept * n prompt tokens (min_kept <= 0: off), or as find_donor. Needs the store's fragment index.
std::optional<DonorChoice> find_donor_by_runs(const share::DonorStore& donors, const kv::KvManager& kv,
                                              uint64_t domain, std::span<const int32_t> tokens,
                                              const FindDonorOptions& opt, double min_kept);

// Builds the sequence's KV for `choice` into the empty `table`. Returns the first row to compute,
// max(shared prefix, plan.exact_prefix) < n; ResourceExhausted (table empty again) when the pool cannot supply the
// blocks; NotFound when any donor of the plan is gone or shrank below what the plan reads of it.
// Moved K is re-rotated per layer with layer_rope[l] (the model's layer_ropes()).
// REQUIRES: table is empty; the owner applied queued evictions to `donors`.
Result<int32_t> build_kv(kv::KvManager& kv, const share::DonorStore& donors, const DonorChoice& choice,
                         uint64_t domain, std::span<const int32_t> tokens, kv::BlockTable& table,
                         std::span<const kernels::RopeTable* const> layer_rope, kernels::RopeType rope_type);

}  // namespace kvs::engine
