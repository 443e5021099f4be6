#include "share/fetch_cost.h"

namespace kvs::share {

FetchDecision price_fetch(const FetchCostInputs& in) {
  FetchDecision d;
  if (in.blocks <= 0) return d;
  if (in.fetch_bytes_per_s > 0)
    d.fetch_s = static_cast<double>(in.blocks) * static_cast<double>(in.block_bytes) / in.fetch_bytes_per_s;
  if (in.prefill_tokens_per_s > 0)
    d.recompute_s = static_cast<double>(in.blocks) * static_cast<double>(in.block_tokens) / in.prefill_tokens_per_s;
  if (in.fetch_bytes_per_s > 0 && in.prefill_tokens_per_s > 0) d.fetch = d.fetch_s < d.recompute_s;
  return d;
}

}  // namespace kvs::share
