#include "server/dashboard/dashboard_routes.h"

// The same httplib configuration as http_server.cpp (one definition of its inline code in the binary).
#define CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH (size_t{1} << 30)
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "server/auth_header.h"
#include "server/dashboard/assets.h"
#include "server/dashboard/sharing_view.h"
#include "server/openai_api.h"

namespace kvs::server {
namespace {
using nlohmann::json;

constexpr size_t kDefaultLimit = 50;
// The page loads only its own files; nothing from another origin (no CDN).
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'";

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.http_status, error_json(e)); }

ApiError not_found(const std::string& what) {
  return ApiError{404, what, "invalid_request_error", "", "not_found"};
}

void send_asset(httplib::Response& res, std::string_view name) {
  const DashboardAsset* a = find_dashboard_asset(name);
  if (!a) return send_error(res, not_found("No dashboard file '" + std::string(name) + "'."));
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("Cache-Control", "no-cache");
  res.set_content(std::string(a->body), std::string(a->content_type));
}

// The viewer of an API request, or nullopt after answering 401.
std::optional<DashboardViewer> viewer_or_401(const ServerConfig& cfg, const httplib::Request& req,
                                             httplib::Response& res) {
  const std::string key = bearer_key_of(req.get_header_value("Authorization"));
  DashboardViewer v = dashboard_viewer(cfg, key);
  if (v.kind != DashboardViewer::Kind::kDenied) return v;
  send_error(res, invalid_api_key(!key.empty()));
  return std::nullopt;
}

bool may_see(const DashboardViewer& v, const engine::RequestRecord& r) {
  return v.kind == DashboardViewer::Kind::kAll || (v.kind == DashboardViewer::Kind::kTenant && r.tenant == v.tenant);
}

void handle_stats(const ServerConfig& cfg, const engine::Engine& engine, const StatsHistory& history,
                  const httplib::Request& req, httplib::Response& res) {
  if (cfg.metrics_need_key()) {  // every tenant's aggregate counts: as /metrics
    const std::string key = bearer_key_of(req.get_header_value("Authorization"));
    if (key.empty() || !cfg.is_operator_key(key)) {
      return send_error(res, key.empty() || !cfg.tenant_for_key(key)
                                 ? invalid_api_key(!key.empty())
                                 : ApiError{403, "/dashboard/api/stats needs an operator key (operator_keys in the "
                                                 "config), not a tenant's.",
                                            "invalid_request_error", "", "operator_key_required"});
    }
  }
  int64_t since = 0;
  if (req.has_param("since")) {
    const std::string s = req.get_param_value("since");
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
      return send_error(res, invalid_request("since must be a time in unix milliseconds", "since"));
    since = std::stoll(s);
  }
  json samples = json::array();
  for (const StatsSample& s : history.since(since)) samples.push_back(stats_json(s.metrics, s.unix_ms));
  send_json(res, 200, json{{"now", stats_json(engine.metrics(), unix_ms_now())}, {"samples", std::move(samples)}});
}

void handle_requests(const ServerConfig& cfg, const engine::Engine& engine, const httplib::Request& req,
                     httplib::Response& res) {
  const auto v = viewer_or_401(cfg, req, res);
  if (!v) return;
  size_t limit = kDefaultLimit;
  if (req.has_param("limit")) {
    const std::string s = req.get_param_value("limit");
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
      return send_error(res, invalid_request("limit must be a number of requests, 1..256", "limit"));
    limit = std::clamp<size_t>(std::stoul(s), 1, engine.request_log().capacity());
  }
  json rows = json::array();
  for (const auto& r : engine.request_log().recent(limit, [&](const engine::RequestRecord& r) { return may_see(*v, r); }))
    rows.push_back(request_summary_json(r, v->show_tenant));
  send_json(res, 200, json{{"object", "list"}, {"data", std::move(rows)}});
}

void handle_request(const ServerConfig& cfg, const engine::Engine& engine, const httplib::Request& req,
                    httplib::Response& res, const std::string& id) {
  const auto v = viewer_or_401(cfg, req, res);
  if (!v) return;
  const engine::RequestLog& log = engine.request_log();
  std::optional<engine::RequestRecord> r = log.find(id);
  if (!r && !id.empty() && id.size() <= 19 && id.find_first_not_of("0123456789") == std::string::npos)
    r = log.find(static_cast<uint64_t>(std::stoull(id)));
  if (!r || !may_see(*v, *r))  // another tenant's request: as if it did not exist
    return send_error(res, not_found("No recent request '" + id + "' (the log keeps the last " +
                                     std::to_string(log.capacity()) + ")."));
  SharingViewOptions opt;
  opt.show_tenant = v->show_tenant;
  const std::optional<engine::RequestRecord> donor = log.find_donor(r->usage.share.donor_id);
  const bool donor_visible = donor && may_see(*v, *donor);
  // The donor's text is another request's prompt: an operator sees it; a tenant only when it is its own.
  opt.show_donor_text = v->kind == DashboardViewer::Kind::kAll || donor_visible;
  if (donor_visible) opt.donor_request_id = donor->request_id.empty() ? std::to_string(donor->id) : donor->request_id;
  send_json(res, 200, sharing_view_json(*r, engine.tokenizer(), opt));
}
}  // namespace

DashboardViewer dashboard_viewer(const ServerConfig& cfg, std::string_view key) {
  DashboardViewer v;
  if (!cfg.auth_required() && cfg.operator_keys.empty()) {
    v.kind = DashboardViewer::Kind::kAll;
    v.show_tenant = true;
    return v;
  }
  if (key.empty()) return v;
  if (cfg.is_operator_key(key)) {
    v.kind = DashboardViewer::Kind::kAll;
    v.show_tenant = true;
  } else if (const Tenant* t = cfg.tenant_for_key(key)) {
    v.kind = DashboardViewer::Kind::kTenant;
    v.tenant = t->name;
  }
  return v;
}

Dashboard::Dashboard(httplib::Server& http, const ServerConfig& cfg, const engine::Engine& engine)
    : history_([&engine] { return engine.metrics(); }, kSamplePeriod, kSamples) {
  for (const char* path : {"/dashboard", "/dashboard/"})
    http.Get(path, [](const httplib::Request&, httplib::Response& res) { send_asset(res, "index.html"); });
  http.Get(R"(/dashboard/assets/([A-Za-z0-9._-]+))",
           [](const httplib::Request& req, httplib::Response& res) { send_asset(res, req.matches[1].str()); });
  http.Get("/dashboard/api/stats", [this, &cfg, &engine](const httplib::Request& req, httplib::Response& res) {
    handle_stats(cfg, engine, history_, req, res);
  });
  http.Get("/dashboard/api/requests", [&cfg, &engine](const httplib::Request& req, httplib::Response& res) {
    handle_requests(cfg, engine, req, res);
  });
  http.Get(R"(/dashboard/api/requests/([^/]+))", [&cfg, &engine](const httplib::Request& req, httplib::Response& res) {
    handle_request(cfg, engine, req, res, req.matches[1].str());
  });
}

}  // namespace kvs::server
