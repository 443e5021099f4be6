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
  HttpCounters h;
  h.responses_by_status = {{200, 5}, {429, 1}};
  const std::string t = render_prometheus(m, h);
  auto has = [&](const std::string& line) { return t.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("# TYPE kvshare_requests_total counter"));
  EXPECT_TRUE(has("kvshare_requests_total 3"));
  EXPECT_TRUE(has("kvshare_computed_prompt_tokens_total 17"));
  EXPECT_TRUE(has("kvshare_kv_blocks_free 4"));
  EXPECT_TRUE(has("kvshare_kv_cache_usage_ratio 0.6"));
  EXPECT_TRUE(has("# TYPE kvshare_time_to_first_token_seconds histogram"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket{le=\"0.001\"} 0"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket{le=\"0.0025\"} 1"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket{le=\"0.25\"} 2"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket{le=\"30\"} 2"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_bucket{le=\"+Inf\"} 3"));
  EXPECT_TRUE(has("kvshare_time_to_first_token_seconds_count 3"));
  EXPECT_TRUE(has("kvshare_http_responses_total{code=\"429\"} 1"));
  EXPECT_TRUE(has("kvshare_semantic_hits_total 0"));
}

}  // namespace
}  // namespace kvs::server
