// Fidelity of a mode's answers to the full run's, token by token (no model needed; likelihood.h teacher-forces
// answers under the exact model).
//
//   first-token KL      KL(p_full || p_mode) = sum_v p_full(v) (log p_full(v) - log p_mode(v)), p = softmax of the
//                       raw first-token logits (before sampling), computed in double with a log-sum-exp each
//   top-1               argmax of the two logit rows equal (the lowest index wins a tie, as engine::argmax)
//   leading agreement   positions j < cap where the two answers hold the same token, counted from the start
//                       until the first difference; an answer that ended (EOS, or shorter for any reason) is
//                       padded with an end marker, so two identical answers agree at every position < cap
//   agreement at k      the leading agreement is >= k (the first k positions all match), for k in
//                       kAgreementK with k <= max_tokens
//
// Invariants: first_token_kl(x, x) == 0 exactly (the same operations on the same floats); KL >= 0 (a rounding
// residue below 0 is reported as 0); leading_agreement(a, a, cap) == cap.
#pragma once
#include <array>
#include <cstdint>
#include <span>

#include "base/status.h"

namespace kvs::eval {

inline constexpr std::array<int32_t, 5> kAgreementK = {1, 4, 16, 32, 64};

struct FirstTokenComparison {
  double kl = 0;             // KL(p_ref || p), nats
  bool top1_agrees = false;  // argmax(ref) == argmax(logits)
};

// ref, logits: (n_vocab) raw logits. InvalidArgument when empty or of different sizes.
Result<FirstTokenComparison> compare_first_token(std::span<const float> ref, std::span<const float> logits);

// log(sum_v exp(x_v)) in double.
double log_sum_exp(std::span<const float> x);

// Leading positions (< cap) where a and ref agree, ended answers padded with an end marker (see above).
int32_t leading_agreement(std::span<const int32_t> a, std::span<const int32_t> ref, int32_t cap);

}  // namespace kvs::eval
