// The dashboard's sharing view: token classes of a hand-made trace (expected classes written out by hand), the
// JSON's donor text redaction, and who may read the request log (dashboard_viewer).
#include <gtest/gtest.h>

#include "engine/engine_fixture.h"
#include "server/config.h"
#include "server/dashboard/assets.h"
#include "server/dashboard/dashboard_routes.h"
#include "server/dashboard/sharing_view.h"

namespace kvs::server {
namespace {

using align::EditOp;
using align::EditRun;

// donor  10 11 12 13 14 15 16 17
// prompt 10 11 12 99 15 16 17        K3 (0->0), D2 (13 14), I1 (99), K3 (5->4, shift -1)
engine::RequestRecord semantic_record() {
  engine::RequestRecord r;
  r.id = 42;
  r.request_id = "chatcmpl-x";
  r.tenant = "bob";
  r.prompt = {10, 11, 12, 99, 15, 16, 17};
  r.trace.donor_tokens = {10, 11, 12, 13, 14, 15, 16, 17};
  r.trace.runs = {EditRun{EditOp::kKeep, 0, 0, 3}, EditRun{EditOp::kDelete, 3, 3, 2},
                  EditRun{EditOp::kInsert, 5, 3, 1}, EditRun{EditOp::kKeep, 5, 4, 3}};
  r.trace.recomputed = {4, 6};  // selected by deviation, and the last token
  r.trace.exact_prefix = 3;
  r.usage.share.mode = "semantic";
  r.usage.share.donor_id = 3;
  r.usage.share.reused_tokens = 4;
  r.usage.share.recomputed_tokens = 3;
  return r;
}

TEST(SharingView, ClassifiesEveryPromptAndDonorToken) {
  const TokenClasses c = classify_tokens(semantic_record());
  EXPECT_EQ(c.prompt, (std::vector<std::string>{"reused", "reused", "reused", "inserted", "recomputed", "moved",
                                                "recomputed"}));
  EXPECT_EQ(c.prompt_src, (std::vector<int32_t>{0, 1, 2, -1, 5, 6, 7}));
  EXPECT_EQ(c.donor, (std::vector<std::string>{"reused", "reused", "reused", "deleted", "deleted", "recomputed",
                                               "moved", "recomputed"}));
  EXPECT_EQ(c.donor_dst, (std::vector<int32_t>{0, 1, 2, -1, -1, 4, 5, 6}));
}

TEST(SharingView, PrefixAndFullRequestsHaveNoDonor) {
  engine::RequestRecord r;
  r.prompt = {1, 2, 3, 4, 5};
  r.trace.exact_prefix = 2;  // a prefix-cache hit of two tokens
  const TokenClasses c = classify_tokens(r);
  EXPECT_EQ(c.prompt, (std::vector<std::string>{"reused", "reused", "computed", "computed", "computed"}));
  EXPECT_TRUE(c.donor.empty());
  r.trace.exact_prefix = 0;
  EXPECT_EQ(classify_tokens(r).prompt, std::vector<std::string>(5, "computed"));
}

TEST(SharingView, JsonCountsClassesAndHidesTheDonorTextUnlessAllowed) {
  using engine::testing_engine::fx;
  ASSERT_TRUE(fx().model && fx().tok) << "default model missing: run scripts/fetch_model.sh";
  const auto r = semantic_record();
  SharingViewOptions hidden;
  const nlohmann::json v = sharing_view_json(r, *fx().tok, hidden);
  EXPECT_FALSE(v.contains("tenant"));
  ASSERT_EQ(v["donor"].size(), 8u);
  for (const auto& t : v["donor"]) EXPECT_FALSE(t.contains("piece")) << t.dump();
  ASSERT_EQ(v["prompt"].size(), 7u);
  EXPECT_EQ(v["prompt"][3]["piece"], fx().tok->token_to_piece(99));
  EXPECT_EQ(v["prompt"][5]["shift"], -1);
  EXPECT_EQ(v["counts"]["prompt"]["reused"], 3);
  EXPECT_EQ(v["counts"]["prompt"]["moved"], 1);
  EXPECT_EQ(v["counts"]["prompt"]["inserted"], 1);
  EXPECT_EQ(v["counts"]["prompt"]["recomputed"], 2);
  EXPECT_EQ(v["counts"]["donor"]["deleted"], 2);
  EXPECT_EQ(v["runs"].size(), 4u);
  EXPECT_EQ(v["runs"][3]["shift"], -1);
  SharingViewOptions shown;
  shown.show_tenant = true;
  shown.show_donor_text = true;
  shown.donor_request_id = "chatcmpl-donor";
  const nlohmann::json w = sharing_view_json(r, *fx().tok, shown);
  EXPECT_EQ(w["tenant"], "bob");
  EXPECT_EQ(w["donor"][3]["piece"], fx().tok->token_to_piece(13));
  EXPECT_EQ(w["donor_request_id"], "chatcmpl-donor");
}

TEST(SharingView, WhoSeesTheRequestLog) {
  const ServerConfig open = open_server_config();
  EXPECT_EQ(dashboard_viewer(open, "").kind, DashboardViewer::Kind::kAll);
  auto cfg = parse_server_config(R"({"operator_keys": ["sk-op"], "tenants": [
      {"name": "alice", "api_keys": ["sk-a"], "share_domain": "clinic"},
      {"name": "bob", "api_keys": ["sk-b"], "share_domain": "clinic"}]})", "cfg.json");
  ASSERT_TRUE(cfg.is_ok()) << cfg.status().to_string();
  EXPECT_EQ(dashboard_viewer(cfg.value(), "").kind, DashboardViewer::Kind::kDenied);
  EXPECT_EQ(dashboard_viewer(cfg.value(), "sk-nobody").kind, DashboardViewer::Kind::kDenied);
  const DashboardViewer op = dashboard_viewer(cfg.value(), "sk-op");
  EXPECT_EQ(op.kind, DashboardViewer::Kind::kAll);
  EXPECT_TRUE(op.show_tenant);
  const DashboardViewer bob = dashboard_viewer(cfg.value(), "sk-b");
  EXPECT_EQ(bob.kind, DashboardViewer::Kind::kTenant);
  EXPECT_EQ(bob.tenant, "bob");
  EXPECT_FALSE(bob.show_tenant);
  // Operator keys alone (an open server that has them): the log needs one.
  auto ops_only = parse_server_config(R"({"operator_keys": ["sk-op"]})", "cfg.json");
  ASSERT_TRUE(ops_only.is_ok());
  EXPECT_EQ(dashboard_viewer(ops_only.value(), "").kind, DashboardViewer::Kind::kDenied);
  EXPECT_EQ(dashboard_viewer(ops_only.value(), "sk-op").kind, DashboardViewer::Kind::kAll);
}

TEST(SharingView, AssetsAreEmbeddedWithTheirTypes) {
  const DashboardAsset* page = find_dashboard_asset("index.html");
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("/dashboard/assets/dashboard.js"), std::string_view::npos);
  ASSERT_NE(find_dashboard_asset("dashboard.js"), nullptr);
  ASSERT_NE(find_dashboard_asset("dashboard.css"), nullptr);
  EXPECT_EQ(find_dashboard_asset("../index.html"), nullptr);
  for (const DashboardAsset& a : dashboard_assets()) EXPECT_FALSE(a.body.empty()) << a.name;
}

}  // namespace
}  // namespace kvs::server
