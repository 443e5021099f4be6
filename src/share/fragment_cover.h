// Fragment cover: the parts of a new prompt that its semantic plan's own donor does not provide, filled with
// runs of any donors of the same share domain found through the fragment index (DonorStore::fragments()).
//
//   open positions   [exact_prefix, n) minus the own donor's runs of >= short_keep tokens (its shorter runs,
//                    scattered token matches, may give way to a fragment), minus the guarded final gap: the
//                    positions after the own donor's last such run, within the last tail_guard tokens, are never
//                    a fragment's (the context nearest the answer is computed); earlier gaps stay open, so a
//                    passage the own donor does not hold still comes from a fragment when the own donor holds
//                    the one after it
//   seeds            every prompt window [p, p + window) of open positions whose hash the index holds, checked
//                    token by token against the donor (a hash collision is no seed)
//   candidates       each seed extended left and right token by token while prompt and donor agree, the
//                    positions stay open and the donor slots stay usable (cached); one per (donor, shift, span)
//   cover            candidates longest first (ties: lower dst, then lower donor id); each takes its open, not
//                    yet taken positions, in pieces of >= min_run tokens
//
// Result: fragment runs {src, dst, n, donor >= 0}, sorted by dst, disjoint, each donor[src, src+n) ==
// tokens[dst, dst+n) inside the donor's usable tokens, inside the open positions; ready for add_fragment_runs().
// Each run is re-rotated to its own position by build_kv (shift = dst - src per run), and every run start is an
// edit boundary for the edit-aware selection and a deviation candidate like any reused slot.
// Pure over the store (REQUIRES: the pool's evictions drained into it). Cost: O(n) window hashes and lookups,
// plus the extension of each distinct (donor, shift) candidate.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "share/donor_store.h"
#include "share/reuse_plan.h"

namespace kvs::share {

struct FragmentCoverOptions {
  int32_t min_run = 16;     // shortest fragment run kept (>= 1)
  int32_t short_keep = 16;  // own-donor runs shorter than this may be replaced by fragments
  // How far back from the prompt's end the final gap is guarded (>= 0): the context nearest the answer, which a
  // fragment computed behind other passages serves worst (docs/eval/growing_tail_tune_n60.md).
  int32_t tail_guard = 0;
};

// Empty when the store keeps no fragment index. REQUIRES: plan is semantic, for `tokens`.
std::vector<ReusedRun> cover_with_fragments(const DonorStore& donors, uint64_t domain, std::span<const int32_t> tokens,
                                            const ReusePlan& plan, int32_t block_size,
                                            const FragmentCoverOptions& opt = {});

}  // namespace kvs::share
