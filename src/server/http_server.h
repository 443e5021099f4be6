// HttpServer: the OpenAI-compatible HTTP front of one Engine (cpp-httplib, thread per connection from a pool).
//
//   POST /v1/chat/completions, POST /v1/completions   JSON or SSE stream (data: {...}\n\n ... data: [DONE]\n\n)
//   GET  /v1/models, /v1/models/{id}                  the served model
//   GET  /health                                       200 {"status":"ok"}; 503 {"status":"draining"} on shutdown
//   GET  /metrics                                      Prometheus text (prometheus.h)
//
// Auth: with keys configured every /v1 route needs "Authorization: Bearer <key>" (else 401); the key decides the
// tenant and so the share domain that salts every cache key of the request. Clients cannot name a domain.
// Errors are OpenAI error bodies: 400 bad input, 401 key, 404 model or route, 405 method, 413 body too large,
// 429 queue full (Retry-After), 503 shutting down, 500 engine failure.
// Cancellation: a streaming request whose client goes away (a write fails, or the socket is found closed while
// waiting for tokens) is cancelled in the engine; so is a non-streaming one whose connection closes.
// Logging: one line per API request on stderr (tenant, status, prompt/cached/completion tokens, TTFT, total).
//
// Invariants: every admitted request is counted in flight from before it is submitted until its response is
// done (the last byte written or the connection dropped); drain_and_stop() returns only when none is left.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "engine/engine.h"
#include "server/config.h"

namespace kvs::server {

struct ServedModel {
  std::string id;             // what /v1/models lists and requests must name (when they name one)
  std::string chat_template;  // the GGUF's tokenizer.chat_template; "" when the model has none
  int64_t created = 0;        // unix seconds, reported by /v1/models
};

class HttpServer {
 public:
  // `engine` must outlive the server.
  HttpServer(ServerConfig cfg, engine::Engine& engine, ServedModel model);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds cfg.host:cfg.port (port 0 picks a free port). Io error naming the address when it cannot.
  Status bind();
  int port() const;
  // Accepts and serves connections until stop listening (drain_and_stop). REQUIRES: bind() succeeded.
  void serve();

  // Graceful shutdown, callable from any thread: /health turns 503 and new completion requests get 503; waits up
  // to `grace` for in-flight requests (ending early when `interrupted` returns true, polled every 100 ms), then
  // cancels those left and waits for them to unwind; finally stops listening, so serve() returns.
  void drain_and_stop(std::chrono::milliseconds grace, const std::function<bool()>& interrupted = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvs::server
