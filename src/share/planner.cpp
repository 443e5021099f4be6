#include "share/planner.h"

#include <algorithm>
#include <cmath>

namespace kvs::share {
namespace {

bool in_unit(double x) { return x >= 0.0 && x <= 1.0; }  // false for NaN

// I and C of the cost model, from the script alone (no plan built).
void semantic_counts(const align::EditScript& s, int32_t n_prompt, int64_t* initial, int64_t* candidates) {
  const int32_t exact = s.exact_prefix();
  int64_t ins = 0, cand = 0;
  bool last_inserted = false;
  for (const align::EditRun& r : s.runs) {
    if (r.op == align::EditOp::kInsert) {
      ins += r.n;
      if (r.dst + r.n == n_prompt) last_inserted = true;
    } else if (r.op == align::EditOp::kKeep) {
      cand += std::max<int64_t>(0, static_cast<int64_t>(r.dst) + r.n - std::max(r.dst, exact));
    }
  }
  // The last position is either inserted (already counted) or kept; a kept last position outside the exact
  // prefix leaves the candidates for the initial set.
  if (!last_inserted) {
    ++ins;
    if (n_prompt - 1 >= exact) --cand;
  }
  *initial = ins;
  *candidates = cand;
}

// A semantic plan's cost from its own sets: recompute set + the top k of its candidates through every layer, the
// other candidates' first-layer pass.
double semantic_price(const ReusePlan& p, const PlanRequest& req, const PlannerConfig& cfg) {
  const std::vector<uint8_t> frag = p.fragment_candidates();
  const int64_t c = static_cast<int64_t>(frag.size());
  const int64_t k = selection_split(frag, req.recompute_ratio.value_or(cfg.recompute_ratio), cfg).total();
  return static_cast<double>(p.recompute.size() + k) + static_cast<double>(c - k) / req.n_layer;
}

}  // namespace

// The plan of the option choose_mode() picks, with its predicted cost: *semantic (moved from) when semantic wins
// (REQUIRES: semantic given whenever cost.semantic is), else the exact prefix or full plan.
static ReusePlan pick_plan(ReusePlan* semantic, const CostEstimate& cost, const PlanRequest& req, const PlannerConfig& cfg) {
  switch (choose_mode(cost, req.n_prompt, cfg)) {
    case ReuseMode::kSemantic:
      KVS_CHECK(semantic != nullptr);
      semantic->predicted_cost = *cost.semantic;
      return std::move(*semantic);
    case ReuseMode::kPrefix: {
      ReusePlan p = prefix_plan(req.n_prompt, req.prefix_hit);
      p.predicted_cost = cost.prefix;
      return p;
    }
    case ReuseMode::kFull:
      break;
  }
  return full_plan(req.n_prompt);
}

Status PlannerConfig::validate() const {
  if (!in_unit(recompute_ratio)) return invalid_argument("recompute_ratio must be in [0, 1]");
  if (recompute_budget < -1) return invalid_argument("recompute_budget must be >= 0, or -1 for unlimited");
  if (!(similarity_threshold >= -1.0 && similarity_threshold <= 1.0))
    return invalid_argument("similarity_threshold must be in [-1, 1]");
  if (!in_unit(min_saving)) return invalid_argument("min_saving must be in [0, 1]");
  if (!(guard_threshold >= 0.0)) return invalid_argument("guard_threshold must be >= 0 (+inf disables the guard)");
  if (!in_unit(guard_quantile)) return invalid_argument("guard_quantile must be in [0, 1]");
  if (edit_window < 0 || edit_tail < 0) return invalid_argument("edit_window and edit_tail must be >= 0");
  if (!(adaptive_residual >= 0.0)) return invalid_argument("adaptive_residual must be >= 0 (0 = off)");
  if (!in_unit(adaptive_max_ratio)) return invalid_argument("adaptive_max_ratio must be in [0, 1]");
  if (!(fragment_ratio <= 1.0)) return invalid_argument("fragment_ratio must be in [0, 1], or < 0 for r");
  return Status::ok();
}

CostEstimate estimate_costs(const PlanRequest& req, const PlannerConfig& cfg) {
  const int32_t n = req.n_prompt;
  CostEstimate c;
  c.full = n;
  c.prefix = n - std::min(req.prefix_hit, n - 1);
  const SemanticCandidate* sem = req.semantic;
  if (sem && (sem->by_runs || sem->similarity >= cfg.similarity_threshold) && sem->script.target_len == n) {
    const double r = req.recompute_ratio.value_or(cfg.recompute_ratio);
    semantic_counts(sem->script, n, &c.semantic_initial, &c.semantic_candidates);
    c.semantic_selected = selection_size(c.semantic_candidates, r, cfg.recompute_budget);
    c.semantic = static_cast<double>(c.semantic_initial + c.semantic_selected) +
                 static_cast<double>(c.semantic_candidates - c.semantic_selected) / req.n_layer;
  }
  return c;
}

ReuseMode choose_mode(const CostEstimate& cost, int32_t n_prompt, const PlannerConfig& cfg) {
  const double best_exact = std::min(cost.full, cost.prefix);
  if (cost.semantic && *cost.semantic <= best_exact - cfg.min_saving * n_prompt) return ReuseMode::kSemantic;
  if (cost.prefix < cost.full) return ReuseMode::kPrefix;
  return ReuseMode::kFull;
}

Result<ReusePlan> plan(const PlanRequest& req, const PlannerConfig& cfg) {
  KVS_RETURN_IF_ERROR(cfg.validate());
  if (req.n_prompt < 1) return invalid_argument("empty prompt");
  if (req.n_layer < 1) return invalid_argument("n_layer must be >= 1");
  if (req.prefix_hit < 0 || req.prefix_hit > req.n_prompt) return invalid_argument("prefix_hit out of [0, n_prompt]");
  if (req.recompute_ratio && !in_unit(*req.recompute_ratio)) return invalid_argument("recompute_ratio must be in [0, 1]");
  if (req.semantic && req.semantic->script.target_len != req.n_prompt)
    return invalid_argument("semantic candidate's script is for another prompt length");

  const CostEstimate cost = estimate_costs(req, cfg);
  if (choose_mode(cost, req.n_prompt, cfg) != ReuseMode::kSemantic) return pick_plan(nullptr, cost, req, cfg);
  auto p = semantic_plan(req.n_prompt, req.semantic->donor_id, req.semantic->script);
  if (!p.is_ok()) return p.status();
  if (cfg.edit_window == 0 && cfg.edit_tail == 0) return pick_plan(&p.value(), cost, req, cfg);
  add_edit_aware(*p, cfg.edit_window, cfg.edit_tail);
  // Priced again from the plan's own sets: the edit-aware rows may make an exact option cheaper.
  CostEstimate again = cost;
  again.semantic = semantic_price(*p, req, cfg);
  return pick_plan(&p.value(), again, req, cfg);
}

Result<ReusePlan> plan_ready(ReusePlan semantic, const PlanRequest& req, const PlannerConfig& cfg) {
  KVS_RETURN_IF_ERROR(cfg.validate());
  if (semantic.mode != ReuseMode::kSemantic || semantic.n_prompt != req.n_prompt || req.n_layer < 1)
    return invalid_argument("plan_ready needs a semantic plan of the request's prompt");
  if (req.prefix_hit < 0 || req.prefix_hit > req.n_prompt) return invalid_argument("prefix_hit out of [0, n_prompt]");
  add_edit_aware(semantic, cfg.edit_window, cfg.edit_tail);
  CostEstimate cost;
  cost.full = req.n_prompt;
  cost.prefix = req.n_prompt - std::min(req.prefix_hit, req.n_prompt - 1);
  cost.semantic = semantic_price(semantic, req, cfg);
  return pick_plan(&semantic, cost, req, cfg);
}

SelectionSplit selection_split(std::span<const uint8_t> from_fragment, double ratio, const PlannerConfig& cfg) {
  const int64_t n = static_cast<int64_t>(from_fragment.size());
  const int64_t n_frag = std::count(from_fragment.begin(), from_fragment.end(), uint8_t{1});
  SelectionSplit s;
  if (cfg.fragment_ratio < 0.0 || n_frag == 0) {
    s.own = selection_size(n, ratio, cfg.recompute_budget);
    return s;
  }
  s.split = true;
  s.own = selection_size(n - n_frag, ratio, cfg.recompute_budget);
  const int64_t left = cfg.recompute_budget < 0 ? -1 : cfg.recompute_budget - s.own;
  s.fragment = selection_size(n_frag, cfg.fragment_ratio, left);
  return s;
}

Result<RefineOutcome> refine_with_deviation(ReusePlan& plan, std::span<const float> scores, const PlannerConfig& cfg,
                                            std::optional<double> ratio, std::span<const float> rank, double widen,
                                            int64_t* selected_k) {
  KVS_RETURN_IF_ERROR(cfg.validate());
  if (!(widen >= 1.0)) return invalid_argument("widen must be >= 1");
  if (selected_k) *selected_k = 0;
  if (plan.mode != ReuseMode::kSemantic) return RefineOutcome::kNothingToDo;
  const double r = ratio.value_or(cfg.recompute_ratio);
  if (!in_unit(r)) return invalid_argument("recompute_ratio must be in [0, 1]");
  const std::vector<int32_t> cand = plan.deviation_candidates();
  if (scores.size() != cand.size())
    return invalid_argument("got " + std::to_string(scores.size()) + " deviation scores for " +
                            std::to_string(cand.size()) + " candidates");
  if (!rank.empty() && rank.size() != cand.size())
    return invalid_argument("got " + std::to_string(rank.size()) + " rank scores for " + std::to_string(cand.size()) +
                            " candidates");
  std::span<const float> order = rank.empty() ? scores : rank;
  const int64_t n_cand = static_cast<int64_t>(cand.size());
  const std::vector<uint8_t> frag = plan.fragment_candidates();
  const SelectionSplit split = selection_split(frag, r, cfg);
  int64_t k = split.total();
  bool miss = should_fall_back(scores, cfg.guard_threshold, cfg.guard_quantile);
  bool adapted = false;
  if (!miss && cfg.adaptive_residual > 0.0) {
    const int64_t k_max = std::max(k, selection_size(n_cand, cfg.adaptive_max_ratio, cfg.recompute_budget));
    const std::optional<int64_t> ka = adaptive_selection_size(order, scores, cand, k, k_max, cfg.adaptive_residual);
    if (ka) k = *ka;
    miss = !ka;
    adapted = ka && *ka != split.total();
  }
  if (miss) {
    ReusePlan full = full_plan(plan.n_prompt);
    full.fell_back = true;
    full.donor_id = plan.donor_id;
    full.script = std::move(plan.script);
    plan = std::move(full);
    return RefineOutcome::kFellBack;
  }
  if (selected_k) *selected_k = k;
  const auto widened = [&](int64_t kk, int64_t n) {
    return std::min<int64_t>(n, static_cast<int64_t>(std::ceil(widen * static_cast<double>(kk) - 1e-9)));
  };
  if (!split.split || adapted) {
    plan.recompute.merge(select_top_k(order, cand, widened(k, n_cand)));
    return RefineOutcome::kSelected;
  }
  for (uint8_t group : {uint8_t{0}, uint8_t{1}}) {  // own-donor candidates, then fragment candidates, apart
    std::vector<float> o;
    std::vector<int32_t> c;
    for (size_t i = 0; i < cand.size(); ++i)
      if (frag[i] == group) {
        o.push_back(order[i]);
        c.push_back(cand[i]);
      }
    const int64_t kk = group == 0 ? split.own : split.fragment;
    plan.recompute.merge(select_top_k(o, c, widened(kk, static_cast<int64_t>(c.size()))));
  }
  return RefineOutcome::kSelected;
}

}  // namespace kvs::share
