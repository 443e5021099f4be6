#include "engine/logprobs.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/status.h"

namespace kvs::engine {

TokenLogprob token_logprob(std::span<const float> logits, int32_t token, int32_t n_top) {
  const int32_t n_vocab = static_cast<int32_t>(logits.size());
  KVS_CHECK(token >= 0 && token < n_vocab && n_top >= 0);
  const float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - mx);
  const double log_z = mx + std::log(sum);
  auto lp = [&](int32_t id) { return static_cast<float>(static_cast<double>(logits[id]) - log_z); };
  TokenLogprob out;
  out.token = token;
  out.logprob = lp(token);
  const int32_t k = std::min(n_top, n_vocab);
  if (k == 0) return out;
  std::vector<int32_t> ids(n_vocab);  // (n_vocab) candidate ids
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  out.top.reserve(k);
  for (int32_t i = 0; i < k; ++i) out.top.emplace_back(ids[i], lp(ids[i]));
  return out;
}

}  // namespace kvs::engine
