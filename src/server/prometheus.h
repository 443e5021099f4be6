// Prometheus text exposition (format 0.0.4) of the engine's MetricsSnapshot and the HTTP server's counters.
// Every metric is prefixed "kvshare_"; counters end in "_total", histograms are in seconds with cumulative
// buckets (le="+Inf" == _count). Pure: the same inputs give the same text.
//
//   kvshare_requests_total / _finished_total / _cancelled_total / _rejected_total / _failed_total   counters
//   kvshare_prompt_tokens_total            prompt tokens of admitted requests
//   kvshare_computed_prompt_tokens_total   prompt tokens run through the model (the rest came from the cache)
//   kvshare_cached_prompt_tokens_total     prompt tokens whose K/V was reused from the prefix cache
//   kvshare_generation_tokens_total        generated tokens
//   kvshare_prefix_cache_{queries,hits}_total, kvshare_semantic_*_total
//   kvshare_kv_blocks_{total,free,cached}, kvshare_kv_cache_usage_ratio, kvshare_requests_{running,waiting}
//   kvshare_time_to_first_token_seconds, kvshare_inter_token_latency_seconds, kvshare_e2e_request_latency_seconds
//   kvshare_http_responses_total{code="..."}, kvshare_http_requests_in_flight
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "engine/metrics.h"

namespace kvs::server {

struct HttpCounters {
  std::map<int, uint64_t> responses_by_status;  // HTTP status -> responses sent
  int64_t in_flight = 0;                        // completion requests being served
  bool draining = false;                        // shutting down
};

std::string render_prometheus(const engine::MetricsSnapshot& m, const HttpCounters& http);

}  // namespace kvs::server
