// RequestLog: the one log line per API request the HTTP server writes on stderr when a response is done: text
// ("kvshare serve: <utc> <method> <path> <status> tenant=... prompt=... total_ms=...") or, after
// set_request_log_json(true) (kvshare serve --log-format json), one JSON object per line with the same fields.
// Invariant: emit() writes exactly one line (a single fputs, so lines of concurrent requests never interleave).
#pragma once
#include <chrono>
#include <string>

#include "engine/request.h"

namespace kvs::server {

struct RequestLog {
  std::string method, path, id, tenant = "-";
  int status = 0;
  bool stream = false;
  bool has_usage = false;
  engine::Usage usage;
  std::string finish, error;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  void emit() const;
};

// Process-wide format of every RequestLog (one server per process); set before serving.
void set_request_log_json(bool on);

}  // namespace kvs::server
