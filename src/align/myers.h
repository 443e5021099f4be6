// Myers' O(ND) diff (Myers 1986) in linear space: the exact inner diff of align() and the reference the tests
// compare align() against.
//
// Invariants:
//  - myers_align() returns a script exactly when the edit distance D (inserted + deleted tokens) of donor ->
//    target is <= max_edit_distance; the script is then minimal (kept() == LCS) and satisfies every invariant of
//    edit_script.h. Otherwise it returns nullopt. The script found does not depend on the cap (the search
//    visits the same states in the same order; the cap only stops it early).
//  - Cost O((N + M) * min(D, cap)) time, O(N + M + cap) memory.
// Pure functions; thread-safe.
#pragma once
#include <cstdint>
#include <optional>
#include <span>

#include "align/edit_script.h"
#include "align/raw_script.h"

namespace kvs::align {

std::optional<EditScript> myers_align(std::span<const int32_t> donor, std::span<const int32_t> target,
                                      int32_t max_edit_distance);

namespace detail {

// Appends a minimal script for a (n) -> b (m) and returns true when D <= cap; otherwise appends nothing and
// returns false. The common prefix and suffix are stripped first (they are part of the script).
bool myers_diff(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t cap, RawScript* out);

// A lower bound on D, O(n + m): n + m - 2 * sum over tokens t of min(count_a(t), count_b(t)).
int64_t distance_lower_bound(const int32_t* a, int64_t n, const int32_t* b, int64_t m);

}  // namespace detail
}  // namespace kvs::align
