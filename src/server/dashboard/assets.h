// The dashboard's static files (src/server/dashboard/assets/), embedded in the binary at build time by
// cmake/embed_assets.cmake: the page needs nothing from the network (no CDN) and works offline.
// Invariant: names are the files' names (no directories), unique, sorted; bodies are the files' exact bytes.
#pragma once
#include <span>
#include <string_view>

namespace kvs::server {

struct DashboardAsset {
  std::string_view name;          // e.g. "dashboard.js"
  std::string_view content_type;  // from the extension
  std::string_view body;
};

std::span<const DashboardAsset> dashboard_assets();        // defined in the generated dashboard_assets.cpp
const DashboardAsset* find_dashboard_asset(std::string_view name);  // nullptr when there is no such file

}  // namespace kvs::server
