#include "server/dashboard/assets.h"

namespace kvs::server {

const DashboardAsset* find_dashboard_asset(std::string_view name) {
  for (const DashboardAsset& a : dashboard_assets())
    if (a.name == name) return &a;
  return nullptr;
}

}  // namespace kvs::server
