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
  const int64_t n = static_cast<int64_t>(scores.size());
  const int64_t k = selection_size(n, ratio, budget);
  if (k == 0) return {};
  std::vector<int32_t> idx(static_cast<size_t>(n));  // (n) candidate indices
  for (int64_t i = 0; i < n; ++i) idx[i] = static_cast<int32_t>(i);
  // Strict total order (positions are unique): score descending, then position ascending.
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
