// Exact diff by the LCS table (dynamic programming), for regions where one side is short: a long insert or
// delete next to a few changed tokens costs O(n * m) = O(length * few) instead of Myers' O((n + m) * D).
//
// Invariants: table_diff() appends a minimal script (kept == LCS(a, b)) and returns true when
// n * m <= max_cells; otherwise it appends nothing and returns false. Memory O(n * m) int32 cells.
// Among minimal scripts it prefers, at each step, KEEP, then DELETE (so ties differ from Myers' choice).
// Internal to src/align.
#pragma once
#include <cstdint>

#include "align/raw_script.h"

namespace kvs::align::detail {

bool table_diff(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t max_cells, RawScript* out);

}  // namespace kvs::align::detail
