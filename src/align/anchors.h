// Anchors for anchor-then-diff: k-token windows that occur exactly once in a and exactly once in b (found by
// rolling hashes, then compared token by token), chained by the longest increasing subsequence of their
// positions (patience diff's choice, on windows instead of single tokens).
//
// Invariants of the chain unique_window_chain() returns:
//  - segments are disjoint, strictly increasing in both a and b: seg[i].a + seg[i].n <= seg[i+1].a and the
//    same for b; n > 0; a[seg.a + t] == b[seg.b + t] for t < n.
//  - overlapping windows of one common run are merged into one segment; windows on other diagonals that
//    overlap an earlier segment are clipped (or dropped).
//  - the chain holds the most windows that can be taken in order (LIS, ties to the earliest in b).
//  - empty when n < k, m < k, or no window is unique in both.
// Cost O((n + m) * 1) expected hashing + O(W log W) for the chain of W candidate windows. Internal to src/align.
#pragma once
#include <cstdint>
#include <vector>

namespace kvs::align::detail {

struct Segment {
  int64_t a = 0;  // start in a
  int64_t b = 0;  // start in b
  int64_t n = 0;  // tokens, > 0
};

// REQUIRES: k >= 1.
std::vector<Segment> unique_window_chain(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int32_t k);

}  // namespace kvs::align::detail
