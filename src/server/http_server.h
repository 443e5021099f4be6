// HttpServer: the OpenAI-compatible HTTP front of one Engine (cpp-httplib, thread per connection from a pool).
//
//   POST /v1/chat/completions, POST /v1/completions   JSON or SSE stream (data: {...}\n\n ... data: [DONE]\n\n)
//   GET  /v1/models, /v1/models/{id}                  the served model (with max_model_len, the context)
//   POST /v1/embeddings, /tokenize, /detokenize        aux_api.h (authenticated like /v1)
//   GET  /health                                       200 {"status":"ok"}; 503 {"status":"draining"} on shutdown
//   GET  /metrics                                      Prometheus text (prometheus.h); operator key when keys exist
//   GET  /dashboard, /dashboard/api/*                  the operator dashboard (dashboard/dashboard_routes.h)
//
// Auth: with keys configured every /v1 route needs "Authorization: Bearer <key>" (else 401); the key decides the
// tenant and so the share domain that salts every cache key of the request. Clients cannot name a domain.
// /metrics (every tenant's aggregate counts) needs an operator key (else 401, 403 for a tenant's key) unless the
// config makes it public (ServerConfig::metrics_need_key).
// Connections (guarded_server.h): capped in total and per client address (503 over a cap), header / body / idle
// timeouts. What the headers decide is answered before any body byte is read (413 over max_body_bytes, 411, 401);
// a body is read through a content reader that stops at max_body_bytes, chunked or not (413).
// Errors are OpenAI error bodies: 400 bad input, 401 key, 403 not an operator key, 404 model or route, 405 method,
// 408 body too slow, 411 no length, 413 body too large, 415 multipart, 429 queue full (Retry-After),
// 503 shutting down or too many connections, 500 engine failure.
// Cancellation: a streaming request whose client goes away (a write fails, or the socket is found closed while
// waiting for tokens) is cancelled in the engine; so is a non-streaming one whose connection closes (its socket is
// polled for EOF every 100 ms while it waits).
// Logging: one line per API request on stderr (request_log.h: text, or JSON with --log-format json).
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
#include "share/embedder/embedder.h"
#include "tokenizer/chat_template.h"

namespace kvs::server {

struct ServedModel {
  std::string id;             // what /v1/models lists and requests must name (when they name one)
  // The GGUF's tokenizer.chat_template (or --chat-template), compiled; null when the model has none.
  std::shared_ptr<const tok::ChatTemplate> chat_template;
  int64_t created = 0;        // unix seconds, reported by /v1/models
  const share::Embedder* embedder = nullptr;  // /v1/embeddings (null: 503); must outlive the server
  std::string embedder_id;    // the name /v1/embeddings answers to (besides id)
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
