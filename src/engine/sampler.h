// Sampler: turns one row of logits into a token id.
// Order (as llama.cpp / vLLM): repetition penalty over the recent tokens -> greedy if temperature <= 0, else
// top-k -> temperature softmax -> top-p (nucleus) -> min-p -> draw with the seeded RNG.
// Invariant: the same seed, params, logits and history give the same token.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "base/status.h"

namespace kvs::engine {

struct SamplingParams {
  float temperature = 0.0f;   // <= 0: greedy
  int32_t top_k = 0;          // <= 0: off
  float top_p = 1.0f;         // 1: off
  float min_p = 0.0f;         // 0: off
  float repetition_penalty = 1.0f;  // 1: off (CTRL-style: divide positive logits, multiply negative)
  int32_t repeat_last_n = 64;       // how many recent tokens the penalty looks at
  uint64_t seed = 0;

  Status validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}
  // logits: (n_vocab), modified in place by the penalty. history: tokens so far (prompt + generated).
  int32_t sample(std::span<float> logits, std::span<const int32_t> history);
  const SamplingParams& params() const { return p_; }

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;  // (logit or prob, id) scratch
};

int32_t argmax(std::span<const float> logits);

}  // namespace kvs::engine
