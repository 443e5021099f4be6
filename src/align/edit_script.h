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
// Algorithm: strip the common prefix and suffix (cheap pre-pass), then Myers' O(ND) diff in linear space
// (divide and conquer on the middle snake). The middle part's edit distance D (inserted + deleted tokens)
// is capped by AlignOptions::max_edit_distance, which bounds the cost at O((N + M) * cap).
// When D <= cap the script is minimal: kept() == LCS(donor, target).
// When D > cap (script.capped == true) the result is a valid but not necessarily minimal script:
//   coarse fallback = patience anchors: tokens that occur exactly once in both middle parts, the longest
//   chain of them in increasing order in both sequences (LIS), each anchor a KEEP; every gap between
//   anchors is aligned again by the capped Myers, and a gap that still exceeds the cap becomes
//   DELETE + INSERT. Without unique anchors (e.g. heavy repetition) the script keeps only the common
//   prefix and suffix. Total cost stays O((N + M) * cap + K log K).
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
  // Cap on the edit distance D (inserted + deleted tokens) of the part between the common prefix and
  // suffix for the exact Myers search. Beyond it the coarse fallback above is used. >= 0.
  int32_t max_edit_distance = 1024;
  // false: beyond the cap, keep only the common prefix and suffix (no anchor pass).
  bool anchor_fallback = true;
};

struct EditScript {
  std::vector<EditRun> runs;  // script order, see invariants above
  int32_t donor_len = 0;
  int32_t target_len = 0;
  bool capped = false;        // the edit distance exceeded the cap: the script may not be minimal

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
