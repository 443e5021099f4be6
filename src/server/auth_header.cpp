#include "server/auth_header.h"

#include <algorithm>
#include <cctype>

namespace kvs::server {

std::string bearer_key_of(std::string_view authorization_header) {
  std::string h(authorization_header);
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  h.erase(h.begin(), std::find_if(h.begin(), h.end(), not_space));
  h.erase(std::find_if(h.rbegin(), h.rend(), not_space).base(), h.end());
  if (h.size() < 7) return "";
  std::string scheme = h.substr(0, 6);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme != "bearer" || !std::isspace(static_cast<unsigned char>(h[6]))) return "";
  std::string key = h.substr(7);
  key.erase(key.begin(), std::find_if(key.begin(), key.end(), not_space));
  return key;
}

}  // namespace kvs::server
