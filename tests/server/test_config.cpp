// ServerConfig: parsing, validation errors naming file and field, keys -> tenants -> share domains.
#include "server/config.h"

#include <gtest/gtest.h>

namespace kvs::server {
namespace {

TEST(ServerConfig, ParsesTenantsKeysAndDomains) {
  auto r = parse_server_config(R"({
    "host": "0.0.0.0", "port": 9000, "model_name": "smol",
    "limits": {"max_body_bytes": 4096, "default_max_tokens": 64, "shutdown_grace_s": 2.5},
    "engine": {"kv_cache_mib": 128, "max_waiting": 3},
    "tenants": [
      {"name": "acme", "api_keys": ["sk-a1", "sk-a2"]},
      {"name": "globex", "api_keys": ["sk-g"], "share_domain": "g"},
      {"name": "initech", "api_keys": ["sk-i"], "share_domain": "acme"}
    ]})",
                               "test.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const ServerConfig& c = r.value();
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.model_name, "smol");
  EXPECT_EQ(c.limits.max_body_bytes, 4096);
  EXPECT_EQ(c.limits.default_max_tokens, 64);
  EXPECT_DOUBLE_EQ(c.limits.shutdown_grace_s, 2.5);
  EXPECT_EQ(c.engine.kv_cache_mib, 128);
  EXPECT_EQ(c.engine.max_waiting, 3);
  EXPECT_FALSE(c.engine.threads.has_value());
  ASSERT_TRUE(c.auth_required());
  const Tenant* a = c.tenant_for_key("sk-a2");
  const Tenant* g = c.tenant_for_key("sk-g");
  const Tenant* i = c.tenant_for_key("sk-i");
  ASSERT_TRUE(a && g && i);
  EXPECT_EQ(a->name, "acme");
  EXPECT_EQ(a->domain, share_domain_id("acme"));
  EXPECT_EQ(g->share_domain, "g");
  EXPECT_NE(g->domain, a->domain);
  EXPECT_EQ(i->domain, a->domain);  // declared shared
  EXPECT_EQ(c.tenant_for_key("sk-a"), nullptr);
  EXPECT_EQ(c.tenant_for_key(""), nullptr);
}

TEST(ServerConfig, NoTenantsMeansOpen) {
  auto r = parse_server_config("{}", "x.json");
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(r.value().auth_required());
  EXPECT_EQ(r.value().open_tenant().name, "default");
  EXPECT_EQ(r.value().open_tenant().domain, share_domain_id("default"));
  EXPECT_EQ(open_server_config().open_tenant().domain, share_domain_id("default"));
}

TEST(ServerConfig, ErrorsNameTheFileAndField) {
  auto err = [](const char* text) {
    auto r = parse_server_config(text, "cfg.json");
    EXPECT_FALSE(r.is_ok()) << text;
    return r.is_ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(err("{").find("cfg.json: not valid JSON"), std::string::npos);
  EXPECT_NE(err(R"({"prot": 1})").find("cfg.json: prot: unknown field"), std::string::npos);
  EXPECT_NE(err(R"({"port": "80"})").find("port: must be an integer"), std::string::npos);
  EXPECT_NE(err(R"({"port": 70000})").find("port: 70000 is out of range"), std::string::npos);
  EXPECT_NE(err(R"({"limits": {"max_body": 1}})").find("limits.max_body: unknown field"), std::string::npos);
  EXPECT_NE(err(R"({"tenants": {}})").find("tenants: must be an array"), std::string::npos);
  EXPECT_NE(err(R"({"tenants": [{"api_keys": ["k"]}]})").find("tenants[0].name"), std::string::npos);
  EXPECT_NE(err(R"({"tenants": [{"name": "a b", "api_keys": ["k"]}]})").find("tenants[0].name"), std::string::npos);
  EXPECT_NE(err(R"({"tenants": [{"name": "a", "api_keys": []}]})").find("tenants[0].api_keys"), std::string::npos);
  EXPECT_NE(err(R"({"tenants": [{"name": "a", "api_keys": ["k k"]}]})").find("tenants[0].api_keys[0]"),
            std::string::npos);
  EXPECT_NE(err(R"({"tenants": [{"name": "a", "api_keys": ["k"]}, {"name": "a", "api_keys": ["j"]}]})")
                .find("duplicate tenant"),
            std::string::npos);
  EXPECT_NE(err(R"({"tenants": [{"name": "a", "api_keys": ["k"]}, {"name": "b", "api_keys": ["k"]}]})")
                .find("tenants[1].api_keys[0]"),
            std::string::npos);
}

TEST(ServerConfig, ShareDomainIdIsStable) {
  EXPECT_EQ(share_domain_id("acme"), share_domain_id("acme"));
  EXPECT_NE(share_domain_id("acme"), share_domain_id("acme2"));
}

}  // namespace
}  // namespace kvs::server

namespace kvs::server {
namespace {

TEST(ServerConfig, CacheSaltIsPerTenantAndOnlyNarrows) {
  auto r = parse_server_config(R"({"allow_cache_salt": true, "tenants": [
      {"name": "acme", "api_keys": ["sk-a"]},
      {"name": "globex", "api_keys": ["sk-g"], "allow_cache_salt": false}]})",
                               "t.json");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r.value().tenant_for_key("sk-a")->allow_cache_salt);   // the file's default
  EXPECT_FALSE(r.value().tenant_for_key("sk-g")->allow_cache_salt);  // its own setting wins
  EXPECT_FALSE(open_server_config().open_tenant().allow_cache_salt);
  auto open = parse_server_config(R"({"allow_cache_salt": true})", "o.json");
  ASSERT_TRUE(open.is_ok());
  EXPECT_TRUE(open.value().open_tenant().allow_cache_salt);
  EXPECT_FALSE(parse_server_config(R"({"allow_cache_salt": 1})", "b.json").is_ok());
  // A salted domain is a new sub-domain of its parent: neither the parent, nor another tenant's, nor another
  // parent's sub-domain under the same salt; and the same inputs give the same domain.
  const uint64_t acme = share_domain_id("acme"), globex = share_domain_id("globex");
  const uint64_t s1 = narrowed_domain(acme, "user-1");
  EXPECT_EQ(s1, narrowed_domain(acme, "user-1"));
  EXPECT_NE(s1, acme);
  EXPECT_NE(s1, globex);
  EXPECT_NE(s1, narrowed_domain(globex, "user-1"));
  EXPECT_NE(s1, narrowed_domain(acme, "user-2"));
}

}  // namespace
}  // namespace kvs::server
