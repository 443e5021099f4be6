// Planner: chooses how a prompt gets its KV — full prefill, exact prefix reuse, or semantic reuse of a
// donor's KV (align::EditScript + CacheBlend-style selective recompute) — and refines a semantic plan once
// the first layer's deviation scores are known. Pure: no model, no KV, no clocks.
//
// Cost model (tokens computed through every layer; lower is better):
//   full     = n
//   prefix   = n - h,  h = min(prefix_hit, n - 1)                      (the last token is always computed)
//   semantic = I + k + (C - k) / n_layer
//     I = |inserted positions ∪ {n - 1}|                                (initial recompute set)
//     C = reused positions after the script's exact prefix, not in I   (deviation candidates; the first-layer
//         pass computes them once to score them: 1 / n_layer of a token each)
//     k = selection_size(C, r, budget)                                 (top r of C recomputed, r default 0.15)
//   Tokens in the exact prefix of the alignment (src == dst from 0) have exact KV and cost nothing.
//   With edit-aware selection (edit_window / edit_tail > 0) I also holds those positions and C loses them: the
//   plan is built first and priced from its own sets (semantic_cost).
//
// Choice (choose_mode):
//   semantic  when a candidate exists, similarity >= similarity_threshold (or it was found by its shared runs), and
//             semantic <= min(full, prefix) - min_saving * n   (it must beat the best exact option by at
//             least min_saving of the prompt, since it is approximate);
//   else prefix when prefix < full (any exact hit; it is free and exact);
//   else full.
//
// After the first layer (refine_with_deviation): if should_fall_back(scores, guard_threshold,
// guard_quantile) the plan becomes a full prefill (fell_back = true); else the top-r candidates by deviation
// join the recompute set (adaptive budget: the top k, k chosen from the scores; no k reaching the target falls
// back as the guard does).
#pragma once
#include <cstdint>
#include <optional>
#include <span>

#include "align/edit_script.h"
#include "base/status.h"
#include "share/deviation_select.h"
#include "share/reuse_plan.h"

namespace kvs::share {

struct PlannerConfig {
  double recompute_ratio = 0.15;       // r: share of deviation candidates recomputed, in [0, 1]
  int64_t recompute_budget = -1;       // max tokens selected by deviation per request; < 0: unlimited
  double similarity_threshold = 0.80;  // min donor similarity (cosine, [-1, 1]) for semantic reuse
  double min_saving = 0.10;            // semantic must save >= this share of n over the best exact option
  // Guard: fall back to full when the guard_quantile-quantile of the deviation scores exceeds
  // guard_threshold. Scores are expected relative (||dK||/||K|| + ||dV||/||V||); calibrate on the eval set.
  // +infinity disables the guard.
  double guard_threshold = 0.5;
  double guard_quantile = 0.5;
  // Edit-aware selection (add_edit_aware in reuse_plan.h), on top of the deviation selection: the first
  // edit_window reused tokens after each edit and the last edit_tail prompt tokens are always recomputed.
  // 0, 0 = off (CacheBlend's selection alone).
  int32_t edit_window = 0;
  int32_t edit_tail = 0;
  // Adaptive budget (adaptive_selection_size in deviation_select.h): with adaptive_residual > 0 the selection
  // recomputes the fewest top-ranked candidates, at least r of them and at most adaptive_max_ratio, that leave a
  // mean relative deviation <= adaptive_residual in the reused KV; a request that cannot reach it within
  // adaptive_max_ratio is predicted to miss the fidelity target and falls back to full (a second, per-request
  // guard). 0 = off (a fixed r). The planner prices a plan at r (the floor); the scheduler charges the rest when
  // the selection is known.
  double adaptive_residual = 0.0;
  double adaptive_max_ratio = 0.5;
  // Fragment budget: the share of the candidates inside fragment runs (donor >= 0: KV computed behind another
  // prompt's text, so every token of the run saw a different context) recomputed, selected by deviation among
  // those candidates alone; the plan's own-donor candidates keep r. < 0 = r for every candidate (one ranking).
  // The budget is split by the candidates' origin, never shared: a fragment-heavy plan cannot starve its
  // own-donor edits, and the reverse.
  double fragment_ratio = -1.0;

  Status validate() const;
};

struct SemanticCandidate {
  int64_t donor_id = -1;
  double similarity = 0.0;   // similarity of the prompts (cosine of embeddings), [-1, 1]
  align::EditScript script;  // donor tokens -> this prompt's tokens
  // Found by the token runs it shares with the prompt (share/run_retrieval.h), not by embedding: no similarity
  // was measured and the threshold does not apply (the caller required the script to keep enough).
  bool by_runs = false;
};

struct PlanRequest {
  int32_t n_prompt = 0;        // prompt tokens, >= 1
  int32_t n_layer = 1;         // model layers, >= 1 (prices the first-layer pass)
  int32_t prefix_hit = 0;      // tokens an exact prefix match provides, in [0, n_prompt]
  const SemanticCandidate* semantic = nullptr;  // best donor, if any (not owned)
  std::optional<double> recompute_ratio;        // per-request r, overrides the config's
};

struct CostEstimate {
  double full = 0.0;
  double prefix = 0.0;
  std::optional<double> semantic;  // absent: no candidate, or similarity below the threshold
  int64_t semantic_initial = 0;    // I
  int64_t semantic_candidates = 0; // C
  int64_t semantic_selected = 0;   // k
};

// REQUIRES: req and cfg valid (plan() checks them).
CostEstimate estimate_costs(const PlanRequest& req, const PlannerConfig& cfg);
ReuseMode choose_mode(const CostEstimate& cost, int32_t n_prompt, const PlannerConfig& cfg);

// Validates the request, prices the options and builds the chosen plan (semantic: the initial recompute set;
// the deviation selection comes later). predicted_cost holds the chosen option's cost.
Result<ReusePlan> plan(const PlanRequest& req, const PlannerConfig& cfg);

// Prices a ready semantic plan from its own sets (e.g. one with fragment runs of several donors, reuse_plan.h),
// after adding the edit-aware rows: I = |recompute|, C = |deviation_candidates()|, k = selection_size(C, r,
// budget), cost = I + k + (C - k) / n_layer; returns it when choose_mode picks semantic at that cost, else the
// prefix or full plan. The similarity threshold is the caller's (a plan of fragments has no similarity).
// REQUIRES: semantic.mode == kSemantic, semantic.n_prompt == req.n_prompt; req valid.
Result<ReusePlan> plan_ready(ReusePlan semantic, const PlanRequest& req, const PlannerConfig& cfg);

// The deviation selection's size for a plan: selection_size(C, r, budget) over its candidates, or with
// cfg.fragment_ratio >= 0 and fragment candidates, the own-donor candidates' top r plus the fragment
// candidates' top fragment_ratio (the budget caps the sum, own-donor candidates first).
struct SelectionSplit {
  int64_t own = 0;       // selected among own-donor candidates (all candidates when unsplit)
  int64_t fragment = 0;  // selected among fragment candidates
  bool split = false;    // the two groups are ranked apart
  int64_t total() const { return own + fragment; }
};
SelectionSplit selection_split(std::span<const uint8_t> from_fragment, double ratio, const PlannerConfig& cfg);

enum class RefineOutcome { kSelected, kFellBack, kNothingToDo };

// scores[i]: deviation of plan.deviation_candidates()[i], measured at the first layer(s) (relative K/V
// deviation: the guard reads these). rank: scores the selection ranks by instead (e.g. attention-weighted V
// deviation), same length; empty = rank by `scores`.
// kFellBack: the guard fired, plan is now full_plan(n) with fell_back = true (donor_id and script kept for
// logs). kSelected: the top-r candidates were added to plan.recompute. kNothingToDo: not a semantic plan.
// ratio: per-request r (nullopt: cfg.recompute_ratio). With cfg.fragment_ratio >= 0 the own-donor and fragment
// candidates are ranked apart (selection_split); the adaptive budget, when on, ranks them together from that floor.
// widen >= 1 (gradual filtering): the top min(C, ceil(widen * k)) join the recompute set instead of the top k, for
// a later layer to filter down to k; *selected_k (when given) receives k (0 after a fall-back).
Result<RefineOutcome> refine_with_deviation(ReusePlan& plan, std::span<const float> scores, const PlannerConfig& cfg,
                                            std::optional<double> ratio = std::nullopt,
                                            std::span<const float> rank = {}, double widen = 1.0,
                                            int64_t* selected_k = nullptr);

}  // namespace kvs::share
