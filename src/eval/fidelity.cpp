#include "eval/fidelity.h"

#include <algorithm>
#include <cmath>

namespace kvs::eval {

namespace {

size_t argmax(std::span<const float> x) {
  size_t best = 0;
  for (size_t i = 1; i < x.size(); ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace

double log_sum_exp(std::span<const float> x) {
  if (x.empty()) return -INFINITY;
  const double m = *std::max_element(x.begin(), x.end());
  double s = 0;
  for (float v : x) s += std::exp(static_cast<double>(v) - m);
  return m + std::log(s);
}

Result<FirstTokenComparison> compare_first_token(std::span<const float> ref, std::span<const float> logits) {
  if (ref.empty() || ref.size() != logits.size())
    return invalid_argument("first-token logits of sizes " + std::to_string(ref.size()) + " and " +
                            std::to_string(logits.size()));
  const double lse_p = log_sum_exp(ref), lse_q = log_sum_exp(logits);
  double kl = 0;
  for (size_t v = 0; v < ref.size(); ++v) {
    const double lp = static_cast<double>(ref[v]) - lse_p;
    const double lq = static_cast<double>(logits[v]) - lse_q;
    kl += std::exp(lp) * (lp - lq);
  }
  FirstTokenComparison out;
  out.kl = std::max(0.0, kl);
  out.top1_agrees = argmax(ref) == argmax(logits);
  return out;
}

int32_t leading_agreement(std::span<const int32_t> a, std::span<const int32_t> ref, int32_t cap) {
  constexpr int64_t kEnd = -1;  // the padding after an answer's last token (token ids are >= 0)
  const auto at = [](std::span<const int32_t> s, int32_t j) -> int64_t {
    return static_cast<size_t>(j) < s.size() ? s[j] : kEnd;
  };
  int32_t j = 0;
  while (j < cap && at(a, j) == at(ref, j)) ++j;
  return j;
}

}  // namespace kvs::eval
