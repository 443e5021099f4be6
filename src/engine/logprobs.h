// Log-probabilities of tokens under one row of logits (OpenAI's logprobs / top_logprobs, echo scoring).
// Choice (as OpenAI and vLLM's default): the log-softmax of the model's RAW logits, before repetition penalty,
// temperature, top-k / top-p / min-p: the numbers describe the model, not the sampler's reshaped distribution, and
// are the same for every sampling setting. Computed in double; exp / log of the shifted logits.
// Invariants: logprob <= 0; top is sorted by logprob descending (ties: lower id first) and holds
// min(n_top, n_vocab) entries; the chosen token's logprob equals its entry in top when it is there.
#pragma once
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace kvs::engine {

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // (id, logprob), n_top best
};

// logits: (n_vocab) raw. REQUIRES: 0 <= token < n_vocab, n_top >= 0.
TokenLogprob token_logprob(std::span<const float> logits, int32_t token, int32_t n_top);

}  // namespace kvs::engine
