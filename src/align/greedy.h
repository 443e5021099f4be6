// Plain greedy match of common runs: the floor under every script align() returns.
//
// Definition (greedy_align and the tests' reference implement exactly this):
//   cursors i = 0 (donor), j = 0 (target); repeat:
//     j' = the first target position >= j whose token occurs in donor[i, n); stop when there is none;
//     i' = the first position >= i of that token in the donor;
//     DELETE donor[i, i'), INSERT target[j, j'), KEEP the common run from (i', j') as far as it goes;
//     i, j = the ends of that run;
//   DELETE the rest of the donor, INSERT the rest of the target.
// Invariants: the script satisfies edit_script.h's invariants, and its KEEP runs are maximal (the tokens on
// either side of a DELETE/INSERT block never match). Cost O(n + m) expected (hash lookups; each target position
// is looked at once, each donor occurrence skipped once). capped is false (no budget is involved).
// Pure functions; thread-safe.
#pragma once
#include <cstdint>
#include <span>

#include "align/edit_script.h"
#include "align/raw_script.h"

namespace kvs::align {

EditScript greedy_align(std::span<const int32_t> donor, std::span<const int32_t> target);

namespace detail {
void greedy_diff(const int32_t* a, int64_t n, const int32_t* b, int64_t m, RawScript* out);
}  // namespace detail

}  // namespace kvs::align
