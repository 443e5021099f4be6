#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace kvs::engine {

Status SamplingParams::validate() const {
  if (!std::isfinite(temperature) || temperature < 0 || temperature > 100) return invalid_argument("temperature must be in [0, 100]");
  if (!(top_p > 0 && top_p <= 1)) return invalid_argument("top_p must be in (0, 1]");
  if (!(min_p >= 0 && min_p <= 1)) return invalid_argument("min_p must be in [0, 1]");
  if (!(repetition_penalty > 0 && repetition_penalty <= 10)) return invalid_argument("repetition_penalty must be in (0, 10]");
  if (top_k < 0) return invalid_argument("top_k must be >= 0");
  return Status::ok();
}

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
  const int32_t n_vocab = static_cast<int32_t>(logits.size());
  if (p_.repetition_penalty != 1.0f && p_.repeat_last_n != 0) {
    size_t n = p_.repeat_last_n < 0 ? history.size() : std::min<size_t>(history.size(), p_.repeat_last_n);
    std::unordered_set<int32_t> seen(history.end() - n, history.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= n_vocab) continue;
      logits[t] = logits[t] > 0 ? logits[t] / p_.repetition_penalty : logits[t] * p_.repetition_penalty;
    }
  }
  if (p_.temperature <= 0) return argmax(logits);

  cand_.resize(n_vocab);
  for (int32_t i = 0; i < n_vocab; ++i) cand_[i] = {logits[i], i};
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t n = cand_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < n) {
    std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_logit);
    n = p_.top_k;
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  // Softmax with temperature over the n best (sorted, descending).
  const float mx = cand_[0].first;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    cand_[i].first = std::exp((cand_[i].first - mx) / p_.temperature);
    sum += cand_[i].first;
  }
  for (size_t i = 0; i < n; ++i) cand_[i].first = static_cast<float>(cand_[i].first / sum);
  if (p_.top_p < 1.0f) {
    double cum = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += cand_[i].first;
      if (cum >= p_.top_p) { keep = i + 1; break; }
    }
    n = keep;
  }
  if (p_.min_p > 0) {
    const float floor = cand_[0].first * p_.min_p;
    size_t keep = 1;
    while (keep < n && cand_[keep].first >= floor) ++keep;
    n = keep;
  }
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += cand_[i].first;
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng_), acc = 0;
  for (size_t i = 0; i < n; ++i) {
    acc += cand_[i].first;
    if (r < acc) return cand_[i].second;
  }
  return cand_[n - 1].second;
}

}  // namespace kvs::engine
