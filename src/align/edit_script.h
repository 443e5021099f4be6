// EditScript: how a new token sequence (the target) is built from an earlier one (the donor).
//
// A script is a list of runs, in script order:
//   KEEP   {src, dst, n}  donor[src, src+n) == target[dst, dst+n); the tokens move by shift = dst - src
//   INSERT {dst, n}       target[dst, dst+n) does not come from the donor (src = donor cursor, for reference)
//   DELETE {src, n}       donor[src, src+n) is dropped                (dst = target cursor, for reference)
// A replacement is a DELETE followed by an INSERT.
//
// Invariants of every script returned by align() (verify() checks them all):
//  - runs are in script order: a donor cursor and a target cursor both start at 0; KEEP advances both by n,
//    INSERT advances the target cursor, DELETE the donor cursor; every run's src/dst equal the cursors at its
//    start, so src and dst are non-decreasing (runs are sorted by dst, and by src).
//  - every target position is covered exactly once by a KEEP or an INSERT, every donor position exactly once
//    by a KEEP or a DELETE (the cursors end at target_len and donor_len).
//  - n > 0 for every run; no two adjacent runs have the same op (so KEEP runs are maximal: two KEEP runs are
//    never contiguous in both src and dst).
//  - between two KEEP runs there is at most one DELETE and one INSERT, the DELETE first (canonical form).
//  - KEEP runs really match: donor[src + i] == target[dst + i].
//
// Algorithm of align() (src/align/align.cpp), on the middle part between the common prefix and suffix:
//  1. Myers' O(ND) diff (myers.h) with the edit distance D capped by AlignOptions::max_edit_distance. When
//     D <= cap, align() returns exactly myers_align()'s script: minimal, kept() == LCS, capped == false. Myers
//     is skipped when a lower bound (|n - m|, token histograms) already shows D > cap.
//  2. Otherwise anchor-then-diff, in time proportional to the lengths rather than to D * cap: k-token windows
//     (k = 8, else 3, else 1) unique in both parts, found by rolling hashes, chained by the longest increasing
//     subsequence (anchors.h); each gap between anchors is stripped of its common prefix/suffix and solved
//     exactly (one side empty: a pure insert/delete of any length; Myers under the cap; or the LCS table when
//     n * m <= max_table_cells, lcs_table.h) or split on its own anchors again. A gap with no anchors is
//     matched by the plain greedy (greedy.h) and makes the script capped.
//  3. The floor, whenever step 2 ran: greedy_align() of the whole sequences; when it keeps more, it is the
//     result (capped).
// capped == true: a region was matched greedily (no exact diff within the budget, no anchors), or the greedy
// floor won: the script may keep well below the LCS. capped == false: every region was diffed exactly; the
// script is minimal when D <= cap, and beyond the cap minimal whenever the anchors lie on a longest common
// subsequence (a unique window that is not part of one is rare in text). With anchor_fallback (the default),
// kept() >= greedy_align(...).kept() always, and KEEP runs are maximal (the first and the last tokens of a
// DELETE and of the INSERT beside it never match). Cost: O((N + M) * cap) worst case for a failed Myers
// attempt, O(N + M) hashing per anchor level (at most 24), at most max_table_cells table cells per gap.
// Pure functions; no model, no KV. Thread-safe (no shared state).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace kvs::align {

enum class EditOp : uint8_t { kKeep, kInsert, kDelete };

struct EditRun {
  EditOp op = EditOp::kKeep;
  int32_t src = 0;  // donor start (KEEP, DELETE); donor cursor for INSERT
  int32_t dst = 0;  // target start (KEEP, INSERT); target cursor for DELETE
  int32_t n = 0;    // tokens in the run, > 0
  int32_t shift() const { return dst - src; }  // meaningful for KEEP
  bool operator==(const EditRun&) const = default;
};

struct AlignOptions {
  // Cap on the edit distance D (inserted + deleted tokens) of one exact Myers search (the whole middle part,
  // and each gap between anchors). Beyond it anchor-then-diff (above) is used. >= 0.
  int32_t max_edit_distance = 1024;
  // false: beyond the cap, keep only the common prefix and suffix (no anchors, capped).
  bool anchor_fallback = true;
  // Largest LCS table (n * m cells of 4 bytes) for the exact diff of one region beyond the cap. >= 0.
  int64_t max_table_cells = int64_t{1} << 18;
};

struct EditScript {
  std::vector<EditRun> runs;  // script order, see invariants above
  int32_t donor_len = 0;
  int32_t target_len = 0;
  bool capped = false;        // a region was matched greedily (see above): the script may be far from minimal

  // Summary counters (O(runs)).
  int64_t kept() const;          // tokens in KEEP runs
  int64_t inserted() const;      // tokens in INSERT runs
  int64_t deleted() const;       // tokens in DELETE runs
  int64_t keep_runs() const;     // number of KEEP runs
  int64_t shifted_runs() const;  // KEEP runs with shift != 0
  // Tokens of the leading KEEP run at src = dst = 0 (an exact shared prefix; its KV needs no change).
  int32_t exact_prefix() const;

  // Compact form for logs, e.g. "K12 D3 I5 K40(+2)"; at most max_runs runs, then " ...(+N runs)".
  std::string to_string(size_t max_runs = 64) const;
};

// The reference exact diff is myers_align() (myers.h); the floor is greedy_align() (greedy.h).
EditScript align(std::span<const int32_t> donor, std::span<const int32_t> target, const AlignOptions& opt = {});

// Rebuilds the target: KEEP copies donor tokens, INSERT copies target[dst, dst+n).
// REQUIRES: script was made for sequences of these lengths (checked).
std::vector<int32_t> apply(const EditScript& script, std::span<const int32_t> donor,
                           std::span<const int32_t> target);

// Checks every invariant listed at the top against donor and target. Ok or kInvalidArgument with the first
// violation (for tests, and for scripts that arrive from elsewhere, e.g. a stored donor record).
Status verify(const EditScript& script, std::span<const int32_t> donor, std::span<const int32_t> target);

// Length of the longest common prefix / suffix (the suffix never overlaps `skip` leading tokens).
int32_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);
int32_t common_suffix(std::span<const int32_t> a, std::span<const int32_t> b, int32_t skip = 0);

}  // namespace kvs::align
