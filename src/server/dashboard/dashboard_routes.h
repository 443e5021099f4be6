// The operator dashboard, served by kvshare itself (assets embedded, assets.h):
//
//   GET /dashboard, /dashboard/               the page (index.html); no data in it, so no key needed
//   GET /dashboard/assets/<file>              its script and styles
//   GET /dashboard/api/stats[?since=MS]       {"now": counters, "samples": [counters sampled every second after
//                                             MS (unix ms), oldest first, the last 5 minutes at most]}
//                                             (sharing_view.h: stats_json); the same key as /metrics: an
//                                             operator key when ServerConfig::metrics_need_key()
//   GET /dashboard/api/requests[?limit=N]     the most recent finished requests, newest first (N <= 256, default 50)
//   GET /dashboard/api/requests/<id>          one request's sharing view (its tokens beside its donor's)
//
// Who sees which requests (prompt text is tenant data; docs/security.md):
//   - an open server (no tenant keys, no operator keys): every request (they are all tenant "default");
//   - an operator key: every request, with its tenant;
//   - a tenant's key: only that tenant's own requests, without the tenant field; another tenant's request is 404
//     (its existence is not revealed), and a donor prompt that is not the tenant's own is shown as classes only;
//   - no key or an unknown key when keys are configured: 401.
// The browser page sends the key it was given in the URL fragment (#key=...), which never reaches the server log.
#pragma once
#include <string>
#include <string_view>

#include "engine/engine.h"
#include "server/config.h"
#include "server/dashboard/stats_history.h"

namespace httplib {
class Server;
}

namespace kvs::server {

struct DashboardViewer {
  enum class Kind { kDenied, kAll, kTenant };
  Kind kind = Kind::kDenied;
  std::string tenant;  // kTenant: whose requests it may see
  bool show_tenant = false;
};

// Who `key` ("" when none was given) is to the request log.
DashboardViewer dashboard_viewer(const ServerConfig& cfg, std::string_view key);

// Registers the routes above and samples the engine's metrics (StatsHistory) for as long as it lives.
// `cfg` and `engine` must outlive it; it must outlive every call of `http`'s handlers (stop serving first).
class Dashboard {
 public:
  static constexpr std::chrono::milliseconds kSamplePeriod{1000};
  static constexpr size_t kSamples = 300;  // 5 minutes
  Dashboard(httplib::Server& http, const ServerConfig& cfg, const engine::Engine& engine);

 private:
  StatsHistory history_;
};

}  // namespace kvs::server
