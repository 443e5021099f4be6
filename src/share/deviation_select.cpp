#include "share/deviation_select.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/status.h"

namespace kvs::share {
namespace {

float key(float s) { return std::isnan(s) ? std::numeric_limits<float>::infinity() : s; }

}  // namespace

int64_t selection_size(int64_t n, double ratio, int64_t budget) {
  KVS_CHECK(n >= 0);
  KVS_CHECK(ratio >= 0.0 && ratio <= 1.0);
  int64_t k = static_cast<int64_t>(std::ceil(ratio * static_cast<double>(n) - 1e-9));
  k = std::clamp<int64_t>(k, 0, n);
  if (budget >= 0) k = std::min(k, budget);
  return k;
}

std::vector<int32_t> select_by_deviation(std::span<const float> scores, std::span<const int32_t> positions,
                                         double ratio, int64_t budget) {
  KVS_CHECK(scores.size() == positions.size());
  return select_top_k(scores, positions, selection_size(static_cast<int64_t>(scores.size()), ratio, budget));
}

namespace {

// (n) candidate indices in selection order: score descending, then position ascending (a strict total order,
// positions being unique).
std::vector<int32_t> ranked(std::span<const float> scores, std::span<const int32_t> positions) {
  std::vector<int32_t> idx(scores.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int32_t>(i);
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) {
    const float ka = key(scores[a]), kb = key(scores[b]);
    if (ka != kb) return ka > kb;
    return positions[a] < positions[b];
  });
  return idx;
}

}  // namespace

std::vector<int32_t> select_top_k(std::span<const float> scores, std::span<const int32_t> positions, int64_t k) {
  KVS_CHECK(scores.size() == positions.size());
  const int64_t n = static_cast<int64_t>(scores.size());
  KVS_CHECK(k >= 0 && k <= n);
  if (k == 0) return {};
  std::vector<int32_t> idx(static_cast<size_t>(n));  // (n) candidate indices
  for (int64_t i = 0; i < n; ++i) idx[i] = static_cast<int32_t>(i);
  auto before = [&](int32_t a, int32_t b) {
    const float ka = key(scores[a]), kb = key(scores[b]);
    if (ka != kb) return ka > kb;
    return positions[a] < positions[b];
  };
  if (k < n) std::nth_element(idx.begin(), idx.begin() + k, idx.end(), before);
  std::vector<int32_t> out(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) out[i] = positions[idx[i]];
  std::sort(out.begin(), out.end());
  KVS_CHECK_MSG(std::adjacent_find(out.begin(), out.end()) == out.end(), "duplicate candidate positions");
  return out;
}

std::optional<int64_t> adaptive_selection_size(std::span<const float> rank, std::span<const float> deviation,
                                               std::span<const int32_t> positions, int64_t k_min, int64_t k_max,
                                               double target) {
  KVS_CHECK(rank.size() == deviation.size() && rank.size() == positions.size());
  const int64_t n = static_cast<int64_t>(rank.size());
  KVS_CHECK(k_min >= 0 && k_min <= k_max && k_max <= n);
  KVS_CHECK(target >= 0.0);
  if (n == 0) return 0;
  const std::vector<int32_t> order = ranked(rank, positions);
  // left[k] = sum of deviation over order[k..n): what stays reused when the first k are recomputed.
  std::vector<double> left(static_cast<size_t>(n) + 1, 0.0);  // (n + 1)
  for (int64_t i = n - 1; i >= 0; --i) left[i] = left[i + 1] + static_cast<double>(key(deviation[order[i]]));
  for (int64_t k = k_min; k <= k_max; ++k)
    if (left[k] / static_cast<double>(n) <= target) return k;
  return std::nullopt;
}

float deviation_quantile(std::span<const float> scores, double q) {
  KVS_CHECK(!scores.empty());
  KVS_CHECK(q >= 0.0 && q <= 1.0);
  std::vector<float> s(scores.size());
  for (size_t i = 0; i < s.size(); ++i) s[i] = key(scores[i]);
  const int64_t n = static_cast<int64_t>(s.size());
  const int64_t rank = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(q * static_cast<double>(n) - 1e-9)), 1, n);
  std::nth_element(s.begin(), s.begin() + (rank - 1), s.end());
  return s[rank - 1];
}

bool should_fall_back(std::span<const float> scores, double threshold, double quantile) {
  if (scores.empty()) return false;
  for (float s : scores)
    if (!std::isfinite(s)) return true;
  return static_cast<double>(deviation_quantile(scores, quantile)) > threshold;
}

const char* deviation_scorer_name(DeviationScorer s) { return s == DeviationScorer::kAttnV ? "attn-v" : "kv"; }

bool parse_deviation_scorer(const std::string& s, DeviationScorer* out) {
  if (s == "kv") *out = DeviationScorer::kKv;
  else if (s == "attn-v") *out = DeviationScorer::kAttnV;
  else return false;
  return true;
}

}  // namespace kvs::share
