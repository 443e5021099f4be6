// ReusePlan: how one prompt's KV is obtained — which slots come from a cache (a shared exact prefix or a
// donor's copied, re-rotated KV) and which positions are computed (the RecomputeSet).
//
//   new prompt positions   0 ............................................. n_prompt-1
//   reused runs            [src..src+n) of the donor -> [dst..dst+n), shift = dst - src   (sorted by dst)
//   recompute              sorted positions computed through every layer; may include reused slots
//                          (their copied KV is overwritten by the fresh one)
//
// Invariants (check() verifies them):
//  - n_prompt >= 1; every position in [0, n_prompt) is in a reused run or in the recompute set (or both);
//  - reused runs: n > 0, src >= 0, sorted by dst, disjoint, maximal (two runs are never contiguous in both
//    src and dst), inside [0, n_prompt);
//  - the last prompt position n_prompt - 1 is always recomputed (its logits start decoding);
//  - kFull: no reused runs. kPrefix: one run {0, 0, exact_prefix} at most. kSemantic: runs = the KEEP runs
//    of `script`, and every INSERTed position is recomputed;
//  - reused slots [0, exact_prefix) have src == dst (same tokens, same positions, same causal context): their
//    KV is exact, so they are never deviation candidates;
//  - n_reused() + n_recomputed() == n_prompt.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "align/edit_script.h"
#include "base/status.h"
#include "share/recompute_set.h"

namespace kvs::share {

enum class ReuseMode : uint8_t { kFull, kPrefix, kSemantic };
const char* mode_name(ReuseMode mode);  // "full", "prefix", "semantic"

// A run of donor slots reused at new positions: donor [src, src+n) -> new [dst, dst+n).
struct ReusedRun {
  int32_t src = 0;
  int32_t dst = 0;
  int32_t n = 0;
  int32_t shift() const { return dst - src; }
  bool operator==(const ReusedRun&) const = default;
};

// One reused slot (the runs expanded).
struct ReusedSlot {
  int32_t src = 0;  // donor position
  int32_t dst = 0;  // new position
  int32_t shift() const { return dst - src; }
  bool operator==(const ReusedSlot&) const = default;
};

struct ReusePlan {
  ReuseMode mode = ReuseMode::kFull;
  int64_t donor_id = -1;         // kSemantic: the donor; otherwise -1 (prefix blocks come from the prefix index)
  int32_t n_prompt = 0;          // total prompt tokens
  align::EditScript script;      // kSemantic: donor tokens -> prompt tokens (kept after a fall-back, for logs)
  std::vector<ReusedRun> reused; // KV slots taken from the cache, sorted by dst
  int32_t exact_prefix = 0;      // leading reused slots whose KV is exact (src == dst, same context)
  RecomputeSet recompute;        // positions computed through every layer
  bool fell_back = false;        // the quality guard turned a semantic plan into kFull
  double predicted_cost = 0.0;   // tokens-equivalent to compute (see planner.h), for metrics

  // Reused slots whose cached KV is served (not recomputed).
  int64_t n_reused() const;
  int64_t n_recomputed() const { return recompute.size(); }
  // All reused slots, expanded from the runs (sorted by dst), including recomputed ones.
  std::vector<ReusedSlot> slots() const;
  // Reused positions >= exact_prefix that are not recomputed, ascending: the tokens whose deviation the
  // engine scores at the first layer(s) (refine_with_deviation() expects scores in this order).
  std::vector<int32_t> deviation_candidates() const;

  Status check() const;
  // e.g. "semantic donor=42 n=120 reused=95 recompute=25 [5,10) 119 script=K50 D3 I5 K62(+2)"
  std::string to_string() const;
};

// Plan builders (no cost model; planner.h chooses between them).
// Every position computed. REQUIRES: n_prompt >= 1.
ReusePlan full_plan(int32_t n_prompt);
// [0, h) shared from an exact prefix, h = min(prefix_hit, n_prompt - 1); [h, n_prompt) computed.
// REQUIRES: n_prompt >= 1, 0 <= prefix_hit <= n_prompt.
ReusePlan prefix_plan(int32_t n_prompt, int32_t prefix_hit);
// Reused runs = KEEP runs; initial recompute set = every INSERTed position + the last prompt position.
// (Deliberately no extra "first k tokens after each edit": the deviation selection finds those that need it.)
// Fails with kInvalidArgument when the script does not describe a prompt of n_prompt tokens.
Result<ReusePlan> semantic_plan(int32_t n_prompt, int64_t donor_id, const align::EditScript& script);

// Edit-aware selection: adds to a semantic plan's recompute set the first `window` reused positions after every
// edit boundary (the start of each reused run, except a run starting the prompt at its own position: their
// context changed most) and the last `tail` prompt positions (the chat template's assistant header after the
// user's text, nearest the answer), leaving the exact prefix alone. window = tail = 0 changes nothing.
// REQUIRES: window >= 0, tail >= 0. Keeps check()'s invariants.
void add_edit_aware(ReusePlan& plan, int32_t window, int32_t tail);

}  // namespace kvs::share
