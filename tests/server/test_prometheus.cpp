// Prometheus text rendering of the engine metrics and HTTP counters.
#include "server/prometheus.h"

#include <gtest/gtest.h>

namespace kvs::server {
namespace {

TEST(Prometheus, RendersCountersGaugesAndCumulativeHistograms) {
  engine::MetricsSnapshot m;
  m.requests_total = 3;
  m.computed_prompt_tokens = 17;
  m.kv_blocks_total = 10;
  m.kv_blocks_free = 4;
  m.ttft.observe(0.002);
  m.ttft.observe(0.2);
  m.ttft.observe(100);
  m.ttft.observe(5000);
  HttpCounters h;
  h.responses_by_status = {{200, 5}, {429, 1}};
  const std::string t = render_prometheus(m, h, "smol");
  auto has = [&](const std::string& line) { return t.find(line + "\n") != std::string::npos; };
  const std::string L = "{model_name=\"smol\"";
  EXPECT_TRUE(has("# TYPE kvshare_requests_total counter"));
  EXPECT_TRUE(has("kvshare_requests_total" + L + "} 3"));
  EXPECT_TRUE(has("kvshare_computed_prompt_tokens_total" + L + "} 17"));
  EXPECT_TRUE(has("kvshare_kv_blocks_free" + L + "} 4"));
  EXPECT_TRUE(has("kvshare_kv_cache_usage_ratio" + L + "} 0.6"));
  EXPECT_TRUE(has("vllm:kv_cache_usage_perc" + L + "} 0.6"));
  EXPECT_TRUE(has("# TYPE kvshare_time_to_first_token_seconds histogram"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket" + L + ",le=\"0.001\"} 0"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket" + L + ",le=\"0.0025\"} 1"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket" + L + ",le=\"0.25\"} 2"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket" + L + ",le=\"60\"} 2"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket" + L + ",le=\"300\"} 3"));
  EXPECT_TRUE(has("vllm:time_to_first_token_seconds_bucket" + L + ",le=\"1200\"} 3"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket" + L + ",le=\"+Inf\"} 4"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_count" + L + "} 4"));
  EXPECT_TRUE(has("kvshare_http_responses_total" + L + ",code=\"429\"} 1"));
  EXPECT_TRUE(has("kvshare_semantic_hits_total" + L + "} 0"));
}

TEST(Prometheus, TokenCountsModesAndLabelEscaping) {
  engine::MetricsSnapshot m;
  m.prompt_tokens = 100;
  m.computed_prompt_tokens = 25;
  m.prefix_queries = 2;
  m.prefix_hits = 1;
  m.prefix_query_tokens = 100;
  m.prefix_cached_tokens = 64;
  m.mode_semantic = 4;
  m.mode_fell_back = 1;
  m.prompt_len.observe(3);
  m.prompt_len.observe(700);
  const std::string t = render_prometheus(m, HttpCounters{}, "a\"b\\c");
  auto has = [&](const std::string& line) { return t.find(line + "\n") != std::string::npos; };
  const std::string L = "{model_name=\"a\\\"b\\\\c\"";
  EXPECT_TRUE(has("vllm:prefix_cache_queries_total" + L + "} 100"));
  EXPECT_TRUE(has("vllm:prefix_cache_hits_total" + L + "} 64"));
  EXPECT_TRUE(has("kvshare_prefix_cache_queries_total" + L + "} 100"));
  EXPECT_TRUE(has("kvshare_prefix_cache_lookups_total" + L + "} 2"));
  EXPECT_TRUE(has("kvshare_prefix_cache_lookup_hits_total" + L + "} 1"));
  EXPECT_TRUE(has("kvshare_requests_by_mode_total" + L + ",mode=\"semantic\"} 4"));
  EXPECT_TRUE(has("kvshare_requests_by_mode_total" + L + ",mode=\"fell_back\"} 1"));
  EXPECT_TRUE(has("kvshare_prompt_reuse_ratio" + L + "} 0.75"));
  EXPECT_TRUE(has("vllm:request_prompt_tokens_bucket" + L + ",le=\"5\"} 1"));
  EXPECT_TRUE(has("vllm:request_prompt_tokens_bucket" + L + ",le=\"500\"} 1"));
  EXPECT_TRUE(has("vllm:request_prompt_tokens_bucket" + L + ",le=\"1000\"} 2"));
}

}  // namespace
}  // namespace kvs::server
