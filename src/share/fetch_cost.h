// Fetch or recompute: the price of reading KV blocks from a remote tier against computing their tokens again.
// Pure code (the engine measures both rates and passes them in): a remote tier that loses to recompute is
// skipped, the known failure of remote KV caches on fast prefill.
//
//   fetch_s     = blocks * block_bytes / fetch_bytes_per_s
//   recompute_s = blocks * block_tokens / prefill_tokens_per_s
//
// Invariants: an unknown rate (<= 0) never blocks a fetch (nothing measured yet: fetch, and so measure);
// otherwise fetch is chosen exactly when fetch_s < recompute_s; the result is a pure function of the inputs.
#pragma once
#include <cstdint>

namespace kvs::share {

struct FetchCostInputs {
  int64_t blocks = 0;               // blocks the remote tier would supply
  int64_t block_bytes = 0;          // K/V bytes of one block
  int64_t block_tokens = 0;         // tokens one block holds
  double fetch_bytes_per_s = 0;     // measured remote fetch bandwidth (0: unknown)
  double prefill_tokens_per_s = 0;  // measured prefill speed of this engine (0: unknown)
};

struct FetchDecision {
  bool fetch = true;
  double fetch_s = 0, recompute_s = 0;  // the two predicted times (0 where a rate is unknown)
};

FetchDecision price_fetch(const FetchCostInputs& in);

}  // namespace kvs::share
