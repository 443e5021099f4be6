// ReusePlan: how one prompt's KV is obtained — which slots come from a cache (a shared exact prefix or a
// donor's copied, re-rotated KV) and which positions are computed (the RecomputeSet).
//
//   new prompt positions   0 ............................................. n_prompt-1
//   reused runs            [src..src+n) of a donor -> [dst..dst+n), shift = dst - src      (sorted by dst)
//                          donor = -1: the plan's donor (donor_id, a KEEP run of `script`); donor >= 0: a
//                          fragment run of that donor (found by the fragment index, share/fragment_cover.h)
//   recompute              sorted positions computed through every layer; may include reused slots
//                          (their copied KV is overwritten by the fresh one)
//
// Invariants (check() verifies them):
//  - n_prompt >= 1; every position in [0, n_prompt) is in a reused run or in the recompute set (or both);
//  - reused runs: n > 0, src >= 0, sorted by dst, disjoint, maximal (two runs of the same donor are never
//    contiguous in both src and dst), inside [0, n_prompt);
//  - the last prompt position n_prompt - 1 is always recomputed (its logits start decoding);
//  - kFull: no reused runs. kPrefix: one run {0, 0, exact_prefix} at most. kSemantic: the plan's own-donor runs
//    (donor = -1) are KEEP runs of `script`, in order (a fragment cover may drop short ones); fragment runs
//    (donor >= 0) lie inside the script's INSERTed or dropped KEEP positions; every INSERTed position is either
//    recomputed or covered by a fragment run. A plan of fragments alone has donor_id = -1 and a script that
//    inserts the whole prompt (donor_len = 0);
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
  int64_t donor = -1;  // -1: the plan's donor_id (a KEEP run of its script); >= 0: a fragment run of this donor
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

  // The donor a run reads from (run.donor, or donor_id for -1).
  int64_t donor_of(const ReusedRun& run) const { return run.donor >= 0 ? run.donor : donor_id; }
  // Every donor the plan reads from, donor_id first (when it has runs), then in order of first use; no repeats.
  std::vector<int64_t> donors() const;
  bool has_fragments() const;
  // Reused slots whose cached KV is served (not recomputed).
  int64_t n_reused() const;
  int64_t n_recomputed() const { return recompute.size(); }
  // All reused slots, expanded from the runs (sorted by dst), including recomputed ones.
  std::vector<ReusedSlot> slots() const;
  // Reused positions >= exact_prefix that are not recomputed, ascending: the tokens whose deviation the
  // engine scores at the first layer(s) (refine_with_deviation() expects scores in this order).
  std::vector<int32_t> deviation_candidates() const;
  // Parallel to deviation_candidates(): 1 where the candidate lies in a fragment run (donor >= 0: its donor
  // context is another prompt's), 0 in a run of the plan's own donor.
  std::vector<uint8_t> fragment_candidates() const;

  Status check() const;
  // e.g. "semantic donor=42 n=120 reused=95 recompute=25 [5,10) 119 script=K50 D3 I5 K62(+2)", then with
  // fragments " fragments=d7:[0,40)->[61,101) ..."
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

// A semantic plan of fragments alone (no embedding donor): donor_id = -1, the script inserts all n_prompt
// tokens, every position recomputed until add_fragment_runs() covers some. REQUIRES: n_prompt >= 1.
ReusePlan insert_only_plan(int32_t n_prompt);
// Adds fragment runs (donor >= 0, sorted by dst, disjoint, inside [0, n_prompt)) to a semantic plan: own-donor
// runs they overlap are dropped (their positions not covered by a fragment are recomputed), the runs' positions
// leave the recompute set except n_prompt - 1. REQUIRES: plan.mode == kSemantic; the runs outside the exact
// prefix. Keeps check()'s invariants.
void add_fragment_runs(ReusePlan& plan, std::span<const ReusedRun> fragments);

}  // namespace kvs::share
