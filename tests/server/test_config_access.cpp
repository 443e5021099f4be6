// ServerConfig: HTTP connection limits, operator keys and /metrics access.
#include <gtest/gtest.h>

#include "server/config.h"

namespace kvs::server {
namespace {

std::string error_of(const std::string& doc) {
  auto r = parse_server_config(doc, "cfg.json");
  return r.is_ok() ? "" : r.status().message();
}

TEST(ServerConfigAccess, ConnectionLimitsParseWithDefaults) {
  auto d = parse_server_config("{}", "cfg.json");
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d.value().limits.max_connections, 256);
  EXPECT_EQ(d.value().limits.max_connections_per_client, 64);
  EXPECT_DOUBLE_EQ(d.value().limits.header_timeout_s, 10);
  EXPECT_DOUBLE_EQ(d.value().limits.body_timeout_s, 30);
  EXPECT_DOUBLE_EQ(d.value().limits.idle_timeout_s, 5);
  auto r = parse_server_config(R"({"limits": {"max_connections": 100, "max_connections_per_client": 7,
      "header_timeout_s": 2.5, "body_timeout_s": 4, "idle_timeout_s": 0.5}})", "cfg.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r.value().limits.max_connections, 100);
  EXPECT_EQ(r.value().limits.max_connections_per_client, 7);
  EXPECT_DOUBLE_EQ(r.value().limits.header_timeout_s, 2.5);
  EXPECT_DOUBLE_EQ(r.value().limits.body_timeout_s, 4);
  EXPECT_DOUBLE_EQ(r.value().limits.idle_timeout_s, 0.5);
  // The old name still works.
  auto old = parse_server_config(R"({"limits": {"http_threads": 32}})", "cfg.json");
  ASSERT_TRUE(old.is_ok());
  EXPECT_EQ(old.value().limits.max_connections, 32);
  EXPECT_NE(error_of(R"({"limits": {"max_connections": 1}})").find("limits.max_connections"), std::string::npos);
  EXPECT_NE(error_of(R"({"limits": {"header_timeout_s": 0}})").find("limits.header_timeout_s"), std::string::npos);
}

TEST(ServerConfigAccess, MetricsNeedAnOperatorKeyOnceKeysExist) {
  auto open = parse_server_config("{}", "cfg.json");
  ASSERT_TRUE(open.is_ok());
  EXPECT_FALSE(open.value().metrics_need_key());  // an open server is open everywhere

  auto r = parse_server_config(R"({"operator_keys": ["sk-ops"],
      "tenants": [{"name": "acme", "api_keys": ["sk-a"]}]})", "cfg.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const ServerConfig& c = r.value();
  EXPECT_TRUE(c.metrics_need_key());
  EXPECT_TRUE(c.is_operator_key("sk-ops"));
  EXPECT_FALSE(c.is_operator_key("sk-a"));  // a tenant's key is not an operator's
  EXPECT_FALSE(c.is_operator_key("sk-op"));
  EXPECT_FALSE(c.is_operator_key(""));
  EXPECT_EQ(c.tenant_for_key("sk-ops"), nullptr);  // and an operator key runs no completions

  auto pub = parse_server_config(R"({"metrics_public": true, "tenants": [{"name": "acme", "api_keys": ["sk-a"]}]})",
                                 "cfg.json");
  ASSERT_TRUE(pub.is_ok());
  EXPECT_FALSE(pub.value().metrics_need_key());
}

TEST(ServerConfigAccess, BadOperatorKeysAreErrors) {
  EXPECT_NE(error_of(R"({"operator_keys": "sk"})").find("operator_keys: must be an array"), std::string::npos);
  EXPECT_NE(error_of(R"({"operator_keys": [1]})").find("operator_keys[0]: must be a string"), std::string::npos);
  EXPECT_NE(error_of(R"({"operator_keys": ["has space"]})").find("operator_keys[0]"), std::string::npos);
  EXPECT_NE(error_of(R"({"operator_keys": ["k", "k"]})").find("operator_keys[1]: the same key"), std::string::npos);
  EXPECT_NE(error_of(R"({"operator_keys": ["k"], "tenants": [{"name": "a", "api_keys": ["k"]}]})")
                .find("tenants[0].api_keys[0]"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"metrics_public": 1})").find("metrics_public: must be true or false"), std::string::npos);
}

}  // namespace
}  // namespace kvs::server
