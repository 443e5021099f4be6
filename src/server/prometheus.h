// Prometheus text exposition (format 0.0.4) of the engine's MetricsSnapshot and the HTTP server's counters.
// Every series carries model_name="<served model id>" (as vLLM's), so the series of several servers or models
// can share one dashboard. Counters end in "_total", latency histograms are in seconds, length histograms in
// tokens; buckets are cumulative (le="+Inf" == _count). Pure: the same inputs give the same text.
//
// kvshare_ series:
//   requests_total / _finished_total / _cancelled_total / _rejected_total / _failed_total   counters
//   request_success_total{finished_reason="stop"|"length"}
//   requests_by_mode_total{mode="full"|"prefix"|"semantic"|"fell_back"}  how each computed prompt got its KV
//   prompt_reuse_ratio                     1 - computed / prompt tokens (0..1): the share of prompt KV not computed
//   prompt_tokens_total, computed_prompt_tokens_total, cached_prompt_tokens_total, generation_tokens_total
//   prefix_cache_queries_total / _hits_total      prompt TOKENS looked up / found (vLLM's meaning)
//   prefix_cache_lookups_total / _lookup_hits_total   lookups / lookups that reused at least one block
//   semantic_*_total, donors, repair and background-repair counters
//   kv_blocks_{total,free,cached}, kv_cache_usage_ratio, requests_{running,waiting}
//   time_to_first_token_seconds, inter_token_latency_seconds, e2e_request_latency_seconds,
//   request_{queue,prefill,decode}_time_seconds, request_{prompt,generation}_tokens   histograms
//   http_responses_total{code="..."}, http_requests_in_flight, draining
// vllm: aliases (same values, vLLM v1's names, for existing vLLM dashboards): num_requests_running,
//   num_requests_waiting, kv_cache_usage_perc (0..1, as vLLM), prompt_tokens_total, generation_tokens_total,
//   prefix_cache_queries_total, prefix_cache_hits_total, num_preemptions_total, request_success_total,
//   time_to_first_token_seconds, inter_token_latency_seconds, e2e_request_latency_seconds,
//   request_queue_time_seconds, request_prefill_time_seconds, request_decode_time_seconds,
//   request_prompt_tokens, request_generation_tokens.
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

std::string render_prometheus(const engine::MetricsSnapshot& m, const HttpCounters& http,
                              const std::string& model_name = "");

}  // namespace kvs::server
