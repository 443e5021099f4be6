// The API key of a request: "Authorization: Bearer <key>". Pure; shared by the API routes and the dashboard.
// Invariant: the key returned has no surrounding white space; "" means no usable key (absent, another scheme).
#pragma once
#include <string>
#include <string_view>

namespace kvs::server {

// "Bearer <key>" (scheme case-insensitive, surrounding white space ignored) -> key; "" otherwise.
std::string bearer_key_of(std::string_view authorization_header);

}  // namespace kvs::server
