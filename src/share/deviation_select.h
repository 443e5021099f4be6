// Deviation-based selection (CacheBlend's HKVD tokens) and the quality guard. Pure functions over scores;
// the engine computes the scores (e.g. ||K_fresh - K_reused|| + ||V_fresh - V_reused|| per reused token at
// the first layer, preferably relative to ||K_fresh||, ||V_fresh|| so thresholds do not depend on scale).
//
// Rules kept by every function here:
//  - selection size: k = ceil(ratio * n - 1e-9), clamped to [0, n], then to `budget` when budget >= 0.
//    (The 1e-9 absorbs float error: 0.15 * 100 selects 15, not 16. Any ratio > 0 selects >= 1 of n > 0.)
//  - order: higher score first; equal scores -> lower position first. NaN counts as +infinity (a broken
//    cache entry is recomputed first). So the result is a deterministic function of (scores, positions).
//  - results are sorted ascending by position.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace kvs::share {

// How the engine scores a reused token's deviation at the blend layer.
//   kKv    CacheBlend's HKVD: ||k_fresh - k_reused|| / ||k_fresh|| + ||v_fresh - v_reused|| / ||v_fresh||.
//   kAttnV attention-weighted V deviation: sum over the query rows that are recomputed anyway (inserted tokens
//          and the last one) and heads of softmax(q . k_fresh) at the token times ||v_fresh - v_reused||, i.e.
//          how much the token's V error reaches those rows' attention outputs.
// The quality guard always reads the kKv scores (relative, so its threshold does not depend on scale).
enum class DeviationScorer : uint8_t { kKv, kAttnV };
const char* deviation_scorer_name(DeviationScorer s);
bool parse_deviation_scorer(const std::string& s, DeviationScorer* out);

// REQUIRES: n >= 0, ratio in [0, 1].
int64_t selection_size(int64_t n, double ratio, int64_t budget = -1);

// scores[i] is the deviation of the reused token at positions[i]. Returns the positions of the
// selection_size(n, ratio, budget) highest scores, sorted ascending. O(n) average (nth_element).
// REQUIRES: scores.size() == positions.size(); positions unique; ratio in [0, 1].
std::vector<int32_t> select_by_deviation(std::span<const float> scores, std::span<const int32_t> positions,
                                         double ratio, int64_t budget = -1);

// The same order, with the count given: the k highest-ranked positions, sorted ascending. REQUIRES: 0 <= k <= n.
std::vector<int32_t> select_top_k(std::span<const float> scores, std::span<const int32_t> positions, int64_t k);

// Adaptive budget: the smallest k in [k_min, k_max] whose residual deviation
//   residual(k) = (sum of `deviation` over the candidates NOT among the k highest by `rank`) / n
// is <= target (the mean deviation left in the reused KV after the top k are recomputed), or nullopt when even
// k_max leaves more than target (the request is predicted to miss: the caller falls back to full prefill).
// rank: what the selection orders by (may be `deviation` itself); deviation: the relative K/V deviation the
// target is stated in (NaN / inf count as +infinity: never left in the cache). n = 0 -> 0.
// REQUIRES: rank.size() == deviation.size() == positions.size(); 0 <= k_min <= k_max <= n; target >= 0.
std::optional<int64_t> adaptive_selection_size(std::span<const float> rank, std::span<const float> deviation,
                                               std::span<const int32_t> positions, int64_t k_min, int64_t k_max,
                                               double target);

// Nearest-rank quantile: the ceil(q * n)-th smallest score (q = 0 -> min, 0.5 -> lower median, 1 -> max);
// NaN counts as +infinity. REQUIRES: scores non-empty, q in [0, 1].
float deviation_quantile(std::span<const float> scores, double q);

// Quality guard, after the first layer: true when the reused KV is too far off to be worth patching, i.e.
// the q-quantile of the scores exceeds `threshold`, or any score is NaN or infinite. Empty scores -> false
// (nothing reused from a donor, nothing to guard).
bool should_fall_back(std::span<const float> scores, double threshold, double quantile = 0.5);

}  // namespace kvs::share
