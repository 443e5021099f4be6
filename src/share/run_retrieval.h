// Run retrieval: donors found by the token runs they share with a new prompt, before (and instead of) the
// embedding. A prompt that repeats a long stretch of an earlier prompt verbatim (the same reference passage
// under another question, the same handout asked again) is found through the fragment index in microseconds;
// only a prompt with no such donor pays for the embedding and the ANN search (issue 9: the embedding was a
// sixth of a rag hit's TTFT).
//
//   seeds    every prompt window [p, p + window) with p >= from (the exact prefix is the prefix cache's, and
//            it is what every prompt of a template shares), looked up in the fragment index and checked token
//            by token against the donor (a hash collision is no seed)
//   votes    per donor: the number of prompt positions p with a verified seed (a donor sharing a 400-token
//            passage holds ~400 - window of them; one sharing a template phrase, a few)
//   result   the `max_candidates` donors with the most votes (ties: lower id), best first
//
// Whether a candidate is good enough (its alignment keeps enough of the prompt) is the caller's decision
// (engine::find_donor_by_runs). Pure over the store (REQUIRES: the pool's evictions drained into it); empty when
// the store keeps no fragment index. Cost: O(n) window hashes and lookups plus the verified hits.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "share/donor_store.h"

namespace kvs::share {

struct RunCandidate {
  uint64_t donor_id = 0;
  int32_t votes = 0;  // prompt positions whose window the donor holds, verified
};

// REQUIRES: 0 <= from; max_candidates >= 1.
std::vector<RunCandidate> donors_by_runs(const DonorStore& donors, uint64_t domain, std::span<const int32_t> tokens,
                                         int32_t from, int32_t block_size, int32_t max_candidates);

}  // namespace kvs::share
