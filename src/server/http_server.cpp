#include "server/http_server.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>

// Our own limit (limits.max_body_bytes, set_payload_max_length) applies to every body, form-encoded or not.
#define CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH (size_t{1} << 30)
#include "server/auth_header.h"
#include "server/aux_api.h"
#include "server/choice_set.h"
#include "server/dashboard/dashboard_routes.h"
#include "server/guarded_server.h"
#include "server/openai_api.h"
#include "server/prometheus.h"
#include "server/prompt.h"
#include "server/request_log.h"
#include <httplib.h>

namespace kvs::server {
namespace {
// HTTP reason phrases for the statuses httplib produces on its own.
const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Server Error" : "Client Error";
  }
}
}  // namespace
}  // namespace kvs::server

namespace kvs::server {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr auto kEventPoll = std::chrono::milliseconds(100);  // how often a waiting handler checks its client
constexpr auto kSsePingEvery = std::chrono::seconds(15);     // SSE comment while no token comes (long prefill)
constexpr auto kUnwindLimit = std::chrono::seconds(10);      // after cancelling on shutdown

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void set_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

void set_error(httplib::Response& res, const ApiError& e) { set_json(res, e.http_status, error_json(e)); }

// "Bearer <key>" (scheme case-insensitive) -> key; "" when absent or another scheme.
std::string bearer_key(const httplib::Request& req) { return bearer_key_of(req.get_header_value("Authorization")); }

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

ConnectionLimits connection_limits(const ServerLimits& l) {
  ConnectionLimits c;
  c.max_connections = l.max_connections;
  c.max_connections_per_client = l.max_connections_per_client;
  c.idle_timeout = millis(l.idle_timeout_s);
  c.stream.header_timeout = millis(l.header_timeout_s);
  c.stream.body_timeout = millis(l.body_timeout_s);
  c.stream.write_timeout = std::chrono::seconds(15);
  c.stream.max_header_bytes = 64 << 10;
  // The body as sent: chunk framing on top of max_body_bytes (the decoded limit is enforced while reading).
  c.stream.max_body_wire_bytes = 4 * l.max_body_bytes + (64 << 10);
  return c;
}

bool has_chunked_body(const httplib::Request& req) {
  std::string te = req.get_header_value("Transfer-Encoding");
  std::transform(te.begin(), te.end(), te.begin(), [](unsigned char c) { return std::tolower(c); });
  return te.find("chunked") != std::string::npos;
}

// Marks the calling handler's connection to close after this response (its body is left unread).
void close_connection(httplib::Response& res) {
  if (ConnectionContext* c = GuardedServer::current()) c->close_after_response();
  res.set_header("Connection", "close");
}

void log_error(const httplib::Request& req, const ApiError& e) {
  RequestLog log;
  log.method = req.method;
  log.path = req.path;
  log.status = e.http_status;
  log.error = e.message;
  log.emit();
}
}  // namespace

struct HttpServer::Impl {
  Impl(ServerConfig c, engine::Engine& e, ServedModel m);

  // Counts one admitted request in flight for its lifetime (shared by the handler and a stream's provider).
  struct InFlight {
    explicit InFlight(Impl* s) : impl(s) {}
    ~InFlight() { impl->release(*this); }
    Impl* impl;
    std::vector<std::shared_ptr<engine::RequestHandle>> handles;  // one per choice
  };
  std::shared_ptr<InFlight> admit();  // nullptr while draining
  void attach(InFlight& f, std::shared_ptr<engine::RequestHandle> h);
  void release(InFlight& f);

  const Tenant* authenticate(const httplib::Request& req, ApiError* err) const;
  httplib::Server::HandlerResponse gate(const httplib::Request& req, httplib::Response& res);
  std::optional<std::string> read_body(const httplib::Request& req, const httplib::ContentReader& reader,
                                       ApiError* err);
  void handle_metrics(const httplib::Request& req, httplib::Response& res);
  std::string new_id(const char* prefix);
  uint64_t new_seed();

  void routes();
  void handle_completion(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                         ApiKind kind);
  std::optional<ApiError> submit_choices(const CompletionRequest& r, const engine::RequestParams& p, InFlight& flight,
                                        ChoiceSet& choices, httplib::Response& res);
  void respond_blocking(httplib::Response& res, ApiKind kind, const ResponseMeta& meta,
                        std::shared_ptr<InFlight> flight, std::shared_ptr<ChoiceSet> choices, RequestLog& log);
  void respond_stream(httplib::Response& res, ApiKind kind, const ResponseMeta& meta, bool include_usage,
                      std::shared_ptr<InFlight> flight, std::shared_ptr<ChoiceSet> choices,
                      std::shared_ptr<RequestLog> log);
  void note_ignored(const std::vector<std::string>& fields, httplib::Response& res);
  // The non-completion API routes (aux_api.h): authenticated like /v1, JSON in and out.
  void handle_aux(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* reader,
                  const std::function<ApiResult<json>(const json&)>& run);
  void handle_models(const httplib::Request& req, httplib::Response& res, const std::string* one);
  struct StreamState;

  ServerConfig cfg;
  engine::Engine& engine;
  ServedModel model;
  int bound_port = -1;
  const uint64_t salt;
  std::atomic<uint64_t> counter{0};

  std::mutex mu;
  std::condition_variable cv;
  bool draining = false;                        // GUARDED_BY(mu)
  bool serve_started = false;                   // GUARDED_BY(mu): serve() is listening or about to
  bool stop_requested = false;                  // GUARDED_BY(mu): serve() must not start listening
  bool cancel_all = false;                      // GUARDED_BY(mu)
  int64_t in_flight = 0;                        // GUARDED_BY(mu)
  std::set<engine::RequestHandle*> handles;     // GUARDED_BY(mu): submitted, response not done
  std::set<std::string> ignored_logged;         // GUARDED_BY(mu): unknown request fields already logged
  std::map<int, uint64_t> responses;            // GUARDED_BY(mu): HTTP status -> count
  std::unique_ptr<Dashboard> dashboard;         // its routes' state (set by routes())
  GuardedServer http;                           // last: destroyed first, before the state its handlers use
};

HttpServer::Impl::Impl(ServerConfig c, engine::Engine& e, ServedModel m)
    : cfg(std::move(c)), engine(e), model(std::move(m)), salt((uint64_t{std::random_device{}()} << 32) ^ std::random_device{}() ^
                                                               static_cast<uint64_t>(unix_now())),
      http(connection_limits(cfg.limits)) {
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which lets a second server silently share the port.
  http.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.set_payload_max_length(static_cast<size_t>(cfg.limits.max_body_bytes));
  set_request_log_json(cfg.log_json);
  routes();
}

std::shared_ptr<HttpServer::Impl::InFlight> HttpServer::Impl::admit() {
  std::lock_guard<std::mutex> lk(mu);
  if (draining) return nullptr;
  ++in_flight;
  return std::make_shared<InFlight>(this);
}

void HttpServer::Impl::attach(InFlight& f, std::shared_ptr<engine::RequestHandle> h) {
  std::lock_guard<std::mutex> lk(mu);
  handles.insert(h.get());
  if (cancel_all) h->cancel();
  f.handles.push_back(std::move(h));
}

void HttpServer::Impl::release(InFlight& f) {
  {
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& h : f.handles) handles.erase(h.get());
    --in_flight;
  }
  cv.notify_all();
}

const Tenant* HttpServer::Impl::authenticate(const httplib::Request& req, ApiError* err) const {
  if (!cfg.auth_required()) return &cfg.open_tenant();
  const std::string key = bearer_key(req);
  const Tenant* t = key.empty() ? nullptr : cfg.tenant_for_key(key);
  if (!t) *err = invalid_api_key(!key.empty());
  return t;
}

std::string HttpServer::Impl::new_id(const char* prefix) {
  const uint64_t n = counter.fetch_add(1);
  const XXH128_hash_t h = XXH3_128bits_withSeed(&n, sizeof(n), salt);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%016llx%08llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64 >> 32));
  return std::string(prefix) + buf;
}

uint64_t HttpServer::Impl::new_seed() {
  const uint64_t n = counter.fetch_add(1);
  return XXH3_64bits_withSeed(&n, sizeof(n), salt ^ 0x5eed5eed5eed5eedULL);
}

void HttpServer::Impl::routes() {
  // Bodies are read by the handlers (content readers), which stop at max_body_bytes whatever the framing.
  http.Post("/v1/chat/completions",
            [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
              handle_completion(req, res, reader, ApiKind::kChat);
            });
  http.Post("/v1/completions",
            [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
              handle_completion(req, res, reader, ApiKind::kCompletion);
            });
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) { return gate(req, res); });
  for (const char* path : {"/v1/chat/completions", "/v1/completions"})
    http.Get(path, [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", "POST");
      set_error(res, ApiError{405, "Method " + req.method + " is not allowed on " + req.path + "; use POST.",
                              "invalid_request_error", "", "method_not_allowed"});
    });
  // Embeddings, tokenize, detokenize (aux_api.h).
  auto aux = [this](const char* path, std::function<ApiResult<json>(const json&)> run) {
    http.Post(path, [this, run](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& rd) {
      handle_aux(req, res, &rd, run);
    });
  };
  aux("/v1/embeddings", [this](const json& b) {
    std::vector<std::string> ids{model.embedder_id.empty() ? model.id : model.embedder_id, model.id};
    return embeddings_response(b, model.embedder, ids);
  });
  aux("/tokenize", [this](const json& b) {
    return tokenize_response(b, engine.tokenizer(), model.chat_template.get(), engine.max_context());
  });
  aux("/detokenize", [this](const json& b) { return detokenize_response(b, engine.tokenizer()); });
  http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) { handle_models(req, res, nullptr); });
  http.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    handle_models(req, res, &id);
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(mu);
    if (draining) set_json(res, 503, json{{"status", "draining"}});
    else set_json(res, 200, json{{"status", "ok"}});
  });
  http.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) { handle_metrics(req, res); });
  dashboard = std::make_unique<Dashboard>(http, cfg, engine);  // /dashboard, /dashboard/api/* (dashboard_routes.h)
  // Errors httplib produces itself (unknown route, body too large, malformed request) get an OpenAI body too.
  http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a handler's own error body
    ApiError e{res.status, reason_phrase(res.status), res.status >= 500 ? "server_error" : "invalid_request_error",
               "", ""};
    if (res.status == 404) {
      e.message = "Unknown endpoint: " + req.method + " " + req.path;
      e.code = "unknown_url";
    } else if (res.status == 413) {
      e = body_too_large(cfg.limits.max_body_bytes);
    }
    set_error(res, e);
    log_error(req, e);
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(mu);
    ++responses[res.status];
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
    set_error(res, internal_error("internal error: " + what));
  });
}

void HttpServer::Impl::handle_models(const httplib::Request& req, httplib::Response& res, const std::string* one) {
  ApiError err;
  if (!authenticate(req, &err) || (one && *one != model.id)) {
    if (one && err.message.empty()) err = model_not_found(*one);
    set_error(res, err);
    log_error(req, err);
    return;
  }
  const int64_t ctx = engine.max_context();
  set_json(res, 200, one ? model_json(model.id, model.created, ctx) : models_list_json(model.id, model.created, ctx));
}

void HttpServer::Impl::handle_aux(const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader* reader, const std::function<ApiResult<json>(const json&)>& run) {
  ApiError err;
  const Tenant* tenant = authenticate(req, &err);
  std::optional<std::string> raw;
  if (tenant) raw = read_body(req, *reader, &err);
  if (tenant && !raw) close_connection(res);
  std::optional<ApiResult<json>> out;
  if (raw) {
    auto body = parse_json_body(*raw);
    out = body.is_ok() ? run(body.value()) : ApiResult<json>(body.error());
  }
  if (!out || !out->is_ok()) {
    if (out) err = out->error();
    set_error(res, err);
    log_error(req, err);
    return;
  }
  set_json(res, 200, out->value());
  RequestLog log;
  log.method = req.method;
  log.path = req.path;
  log.tenant = tenant->name;
  log.status = 200;
  log.emit();
}


// Runs after the headers, before any body byte is read: what can be refused from the headers alone is refused
// here, and the connection closes after the answer (its body is never read): a declared body over the limit
// (413), a body without a declared length or chunked framing (411), a bad key on an API route (401).
httplib::Server::HandlerResponse HttpServer::Impl::gate(const httplib::Request& req, httplib::Response& res) {
  using HR = httplib::Server::HandlerResponse;
  const bool chunked = has_chunked_body(req);
  const bool has_length = req.has_header("Content-Length");
  const bool wants_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "DELETE";
  auto refuse = [&](const ApiError& e) {
    close_connection(res);
    set_error(res, e);
    log_error(req, e);
    return HR::Handled;
  };
  uint64_t length = 0;
  if (has_length && !chunked) {
    const std::string v = req.get_header_value("Content-Length");
    if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
      return refuse(invalid_request("Content-Length '" + v + "' is not a number of bytes"));
    length = std::stoull(v);
    if (length > static_cast<uint64_t>(cfg.limits.max_body_bytes)) return refuse(body_too_large(cfg.limits.max_body_bytes));
  }
  if (!wants_body) {
    if (chunked || length > 0) close_connection(res);  // httplib does not read a GET body: never reuse the stream
    return HR::Unhandled;
  }
  if (!chunked && !has_length)
    return refuse(ApiError{411, "A request body needs a Content-Length or Transfer-Encoding: chunked.",
                           "invalid_request_error", "", "length_required"});
  if (cfg.auth_required() && req.path.rfind("/v1/", 0) == 0) {
    ApiError err;
    if (!authenticate(req, &err)) return refuse(err);
  }
  return HR::Unhandled;
}

// The body through httplib's content reader (Content-Length or chunked, decoded), stopped as soon as it passes
// max_body_bytes; nullopt with *err set when it is too large (413), too slow (408) or malformed (400).
std::optional<std::string> HttpServer::Impl::read_body(const httplib::Request& req, const httplib::ContentReader& reader,
                                                       ApiError* err) {
  std::string body;
  bool too_large = false;
  const size_t limit = static_cast<size_t>(cfg.limits.max_body_bytes);
  const bool ok = !req.is_multipart_form_data() && reader([&](const char* data, size_t n) {
    if (body.size() + n > limit) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (ok) return body;
  const ConnectionContext* c = GuardedServer::current();
  const auto failure = c ? c->read_failure() : DeadlineStream::Failure::kNone;
  if (req.is_multipart_form_data())
    *err = ApiError{415, "multipart/form-data bodies are not accepted; send application/json.", "invalid_request_error",
                    "", "unsupported_media_type"};
  else if (too_large || failure == DeadlineStream::Failure::kTooLarge)
    *err = body_too_large(cfg.limits.max_body_bytes);
  else if (failure == DeadlineStream::Failure::kTimeout)
    *err = ApiError{408, "The request body did not arrive within " + std::to_string(cfg.limits.body_timeout_s) + " s.",
                    "invalid_request_error", "", "request_timeout"};
  else
    *err = invalid_request("The request body could not be read (malformed chunked encoding or content encoding).");
  return std::nullopt;
}

void HttpServer::Impl::handle_metrics(const httplib::Request& req, httplib::Response& res) {
  if (cfg.metrics_need_key()) {
    const std::string key = bearer_key(req);
    if (key.empty() || !cfg.is_operator_key(key)) {
      const ApiError e = key.empty() || !cfg.tenant_for_key(key)
                             ? invalid_api_key(!key.empty())
                             : ApiError{403, "/metrics needs an operator key (operator_keys in the config), not a tenant's.",
                                        "invalid_request_error", "", "operator_key_required"};
      set_error(res, e);
      log_error(req, e);
      return;
    }
  }
  HttpCounters hc;
  {
    std::lock_guard<std::mutex> lk(mu);
    hc.responses_by_status = responses;
    hc.in_flight = in_flight;
    hc.draining = draining;
  }
  res.set_content(render_prometheus(engine.metrics(), hc, model.id), "text/plain; version=0.0.4; charset=utf-8");
}

void HttpServer::Impl::handle_completion(const httplib::Request& req, httplib::Response& res,
                                         const httplib::ContentReader& reader, ApiKind kind) {
  auto log = std::make_shared<RequestLog>();
  log->method = req.method;
  log->path = req.path;
  auto fail = [&](const ApiError& e) {
    set_error(res, e);
    log->status = e.http_status;
    log->error = e.message;
    log->emit();
  };
  ApiError err;
  const Tenant* tenant = authenticate(req, &err);
  if (!tenant) return fail(err);
  log->tenant = tenant->name;
  ApiError body_err;
  const std::optional<std::string> raw = read_body(req, reader, &body_err);
  if (!raw) {
    close_connection(res);  // the rest of the body is unread
    return fail(body_err);
  }
  std::shared_ptr<InFlight> flight = admit();
  if (!flight) return fail(shutting_down());

  auto body = parse_json_body(*raw);
  if (!body.is_ok()) return fail(body.error());
  auto parsed = parse_completion_request(body.value(), kind);
  if (!parsed.is_ok()) return fail(parsed.error());
  const CompletionRequest& r = parsed.value();
  note_ignored(r.ignored_fields, res);
  if (!r.model.empty() && r.model != model.id) return fail(model_not_found(r.model));
  if (r.cache_salt && !tenant->allow_cache_salt)
    return fail(invalid_request("'cache_salt' is not enabled for this tenant (the operator allows it per tenant with "
                                "\"allow_cache_salt\": true)", "cache_salt"));
  size_t user_from = 0;
  auto ids = build_prompt_tokens(r, engine.tokenizer(), model.chat_template.get(), &user_from);
  if (!ids.is_ok()) return fail(ids.error());

  const char* param = kind == ApiKind::kChat ? "messages" : "prompt";
  const int64_t n_prompt = static_cast<int64_t>(ids.value().size());
  const int64_t max_ctx = engine.max_context();
  if (n_prompt >= max_ctx) return fail(context_length_exceeded(n_prompt, max_ctx, param));
  engine::RequestParams p;
  p.prompt = std::move(ids).value();
  p.sampling = r.sampling;
  p.sampling.seed = r.seed ? *r.seed : new_seed();
  p.max_tokens = r.max_tokens ? *r.max_tokens
                              : static_cast<int32_t>(std::min<int64_t>(cfg.limits.default_max_tokens, max_ctx - n_prompt));
  p.stop = r.stop;
  p.ignore_eos = r.ignore_eos;
  // From the key, never from the request; a cache_salt can only narrow it to a sub-domain of the tenant's own.
  p.domain = r.cache_salt ? narrowed_domain(tenant->domain, *r.cache_salt) : tenant->domain;
  p.share_mode = r.share_mode;
  p.recompute_ratio = r.recompute_ratio;
  p.deviation = r.deviation;
  p.edit_window = r.edit_window;
  p.edit_tail = r.edit_tail;
  p.donate = tenant->donate && r.donate;  // a request can narrow its tenant's policy, never widen it
  p.screen_sensitive = tenant->sensitive_screen;
  p.screen_from_byte = user_from;  // system messages are the application's text, not a user's
  // Donors are found by what the user wrote: the messages' text (the template's scaffolding is the same for all).
  if (kind == ApiKind::kChat) {
    for (const auto& m : r.messages)
      if (m.role != "assistant") p.share_text += (p.share_text.empty() ? "" : "\n") + m.content;
  } else {
    p.share_text = r.prompt;
  }
  p.tenant = tenant->name;
  const std::string response_id = new_id(kind == ApiKind::kChat ? "chatcmpl-" : "cmpl-");
  p.request_id = response_id;
  p.logprobs = r.logprobs ? r.top_logprobs : -1;
  p.prompt_logprobs = r.echo && r.logprobs;  // forces full compute (engine): shared rows have no logits
  const bool score_only = r.echo && r.max_tokens && *r.max_tokens == 0;
  if (score_only) p.max_tokens = 1;  // the engine generates at least one token; it is not reported
  auto choices = std::make_shared<ChoiceSet>(engine.tokenizer(), ChoiceOptions{kind, r.logprobs, r.echo, score_only},
                                             p.prompt);
  if (auto e = submit_choices(r, p, *flight, *choices, res)) return fail(*e);

  ResponseMeta meta{response_id, unix_now(), model.id, r.share_report};
  log->id = meta.id;
  log->stream = r.stream;
  if (r.stream)
    return respond_stream(res, kind, meta, r.include_usage, std::move(flight), std::move(choices), std::move(log));
  respond_blocking(res, kind, meta, std::move(flight), std::move(choices), *log);
}

// Submits the request's n choices (seeds seed, seed + 1, ...). With n > 1 the first runs alone until its first
// token: by then its prompt's full blocks are in the prefix cache, so the other choices adopt them and compute
// only the prompt's last partial block (one prefill for the shared part; not when the tenant's donation policy
// or echo scoring keeps the prompt out of the cache). An error leaves the choices submitted so far cancelled.
std::optional<ApiError> HttpServer::Impl::submit_choices(const CompletionRequest& r, const engine::RequestParams& p,
                                                         InFlight& flight, ChoiceSet& choices, httplib::Response& res) {
  const ConnectionContext* conn = GuardedServer::current();
  for (int32_t i = 0; i < r.n; ++i) {
    if (i == 1) {
      for (int polls = 0; !choices.choice_started(0) && !choices.all_finished(); ++polls) {
        choices.pump(kEventPoll);
        if (conn && conn->client_gone()) {
          choices.cancel_all();
          return ApiError{499, "client closed the connection", "invalid_request_error", "", ""};
        }
      }
    }
    engine::RequestParams pi = p;
    pi.sampling.seed = p.sampling.seed + static_cast<uint64_t>(i);
    auto submitted = engine.submit(std::move(pi));
    if (!submitted.is_ok()) {
      choices.cancel_all();
      const Status& s = submitted.status();
      if (s.code() == Code::kResourceExhausted) {
        res.set_header("Retry-After", std::to_string(cfg.limits.retry_after_s));
        return queue_full(s.message());
      }
      if (s.code() == Code::kInvalidArgument)
        return invalid_request(s.message(), r.kind == ApiKind::kChat ? "messages" : "prompt");
      return internal_error(s.to_string());
    }
    attach(flight, submitted.value());
    choices.add(submitted.value());
  }
  return std::nullopt;
}

// Unknown top-level fields were ignored: named in a header (names sanitised: header-safe, at most 64 characters,
// 16 names) and logged once per name for the server's lifetime.
void HttpServer::Impl::note_ignored(const std::vector<std::string>& fields, httplib::Response& res) {
  if (fields.empty()) return;
  std::string header;
  for (size_t i = 0; i < fields.size() && i < 16; ++i) {
    std::string name = fields[i].substr(0, 64);
    for (char& c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') c = '?';
    header += (header.empty() ? "" : ",") + name;
    bool first_time = false;
    {
      std::lock_guard<std::mutex> lk(mu);
      first_time = ignored_logged.size() < 1024 && ignored_logged.insert(name).second;
    }
    if (first_time)
      std::fprintf(stderr, "kvshare serve: ignoring unknown request field '%s' (logged once; listed in the "
                           "x-kvshare-ignored-fields response header)\n", name.c_str());
  }
  res.set_header("x-kvshare-ignored-fields", header);
}

void HttpServer::Impl::respond_blocking(httplib::Response& res, ApiKind kind, const ResponseMeta& meta,
                                        std::shared_ptr<InFlight> flight, std::shared_ptr<ChoiceSet> choices,
                                        RequestLog& log) {
  bool client_gone = false;
  // cpp-httplib 0.11 cannot tell a non-streaming handler that its client left: the connection's socket is polled
  // (EOF or error) every kEventPoll, and the request is cancelled through the engine's cancel path, as a stream's.
  const ConnectionContext* conn = GuardedServer::current();
  auto last_check = Clock::now();
  while (!choices->all_finished()) {
    choices->pump(kEventPoll);
    if (!client_gone && conn && Clock::now() - last_check >= kEventPoll) {
      last_check = Clock::now();
      if (conn->client_gone()) {
        client_gone = true;
        choices->cancel_all();
      }
    }
  }
  const engine::Usage usage = choices->usage();
  const std::string outcome = choices->engine_outcome();
  log.has_usage = true;
  log.usage = usage;
  log.finish = outcome == "stop" ? choices->outputs().front().finish_reason : outcome;
  if (outcome == "cancelled") {
    set_error(res, shutting_down());
    log.status = client_gone ? 499 : 503;  // 499: client closed the request (nginx)
    log.error = client_gone ? "client closed the connection" : "cancelled by shutdown";
  } else if (outcome == "error") {
    set_error(res, internal_error("generation failed: " + choices->error().to_string()));
    log.status = 500;
    log.error = choices->error().to_string();
  } else {
    const std::vector<ChoiceOutput> outs = choices->outputs();
    json body = kind == ApiKind::kChat ? chat_completion_json(meta, outs, usage) : text_completion_json(meta, outs, usage);
    if (meta.share_report) body["kvshare"] = share_report_json(choices->first_usage().share);
    set_json(res, 200, body);
    log.status = 200;
  }
  log.emit();
}

// The state of one SSE response, owned by httplib's content provider: destroyed when the response is done or the
// connection dropped; a request not finished by then is cancelled.
struct HttpServer::Impl::StreamState {
  std::shared_ptr<InFlight> flight;  // destroyed last: the request stays in flight until here
  std::shared_ptr<ChoiceSet> choices;
  std::shared_ptr<RequestLog> log;
  ApiKind kind = ApiKind::kChat;
  ResponseMeta meta;
  bool include_usage = false;
  bool started = false;
  bool finished = false;
  Clock::time_point last_write = Clock::now();

  ~StreamState() {
    if (!finished) {
      choices->cancel_all();
      log->status = 499;
      log->error = "client closed the connection";
    }
    log->emit();
  }

  // Appends the SSE events for the deltas read so far, and the closing events once every choice finished.
  void render(std::string& out) {
    for (ChunkDelta& d : choices->take_deltas()) {
      const bool closing = d.finish_reason.has_value();
      json chunk = stream_chunk_json(kind, meta, d, include_usage);
      if (closing && d.index == 0 && meta.share_report) chunk["kvshare"] = share_report_json(choices->first_usage().share);
      out += sse_data(chunk);
    }
    if (!choices->all_finished()) return;
    finished = true;
    const engine::Usage usage = choices->usage();
    const std::string outcome = choices->engine_outcome();
    log->has_usage = true;
    log->usage = usage;
    log->finish = outcome;
    if (outcome == "cancelled" || outcome == "error") {
      // Headers (200) are gone already: report in the stream, as OpenAI does for mid-stream errors.
      const ApiError e = outcome == "error" ? internal_error("generation failed: " + choices->error().to_string())
                                            : shutting_down();
      out += sse_data(error_json(e));
      log->error = e.message;
    } else if (include_usage) {
      out += sse_data(usage_chunk_json(kind, meta, usage));
    }
    out += kSseDone;
  }
};

void HttpServer::Impl::respond_stream(httplib::Response& res, ApiKind kind, const ResponseMeta& meta, bool include_usage,
                                      std::shared_ptr<InFlight> flight, std::shared_ptr<ChoiceSet> choices,
                                      std::shared_ptr<RequestLog> log) {
  auto st = std::make_shared<StreamState>();
  st->flight = std::move(flight);
  st->choices = std::move(choices);
  st->log = std::move(log);
  st->log->status = 200;
  st->kind = kind;
  st->meta = meta;
  st->include_usage = include_usage;
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  // Called again and again until sink.done(); httplib checks the socket is still writable and alive before each
  // call, so a client that left is noticed within kEventPoll even while no token comes.
  res.set_chunked_content_provider("text/event-stream", [st](size_t, httplib::DataSink& sink) {
    std::string out;
    if (!st->started) {  // headers and the role chunks go out at once
      st->started = true;
      if (st->kind == ApiKind::kChat) {
        for (size_t i = 0; i < st->choices->size(); ++i) {
          ChunkDelta role;
          role.role = true;
          role.text = std::string();
          role.index = static_cast<int32_t>(i);
          out += sse_data(stream_chunk_json(st->kind, st->meta, role, st->include_usage));
        }
        return sink.write(out.data(), out.size());
      }
    }
    st->choices->pump(kEventPoll);
    st->render(out);
    if (out.empty() && Clock::now() - st->last_write > kSsePingEvery) out = ": keep-alive\n\n";
    if (!out.empty()) {
      if (!sink.write(out.data(), out.size())) return false;  // client gone: ~StreamState cancels
      st->last_write = Clock::now();
    }
    if (st->finished) sink.done();
    return true;
  });
}

HttpServer::HttpServer(ServerConfig cfg, engine::Engine& engine, ServedModel model)
    : impl_(std::make_unique<Impl>(std::move(cfg), engine, std::move(model))) {}

HttpServer::~HttpServer() = default;

Status HttpServer::bind() {
  const std::string& host = impl_->cfg.host;
  const int port = impl_->cfg.port;
  impl_->bound_port = port == 0 ? impl_->http.bind_to_any_port(host) : (impl_->http.bind_to_port(host, port) ? port : -1);
  if (impl_->bound_port <= 0)
    return io_error("cannot listen on " + host + ":" + std::to_string(port) + " (address in use or not available)");
  impl_->http.set_listen_backlog(std::max(64, impl_->cfg.limits.max_connections));
  return Status::ok();
}

int HttpServer::port() const { return impl_->bound_port; }

void HttpServer::serve() {
  KVS_CHECK(impl_->bound_port > 0);
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (impl_->stop_requested) return;  // a signal came before we got here
    impl_->serve_started = true;
  }
  impl_->http.listen_after_bind();
}

void HttpServer::drain_and_stop(std::chrono::milliseconds grace, const std::function<bool()>& interrupted) {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lk(s.mu);
  s.draining = true;
  std::fprintf(stderr, "kvshare serve: draining: %lld request(s) in flight, grace %.1f s\n",
               static_cast<long long>(s.in_flight), grace.count() / 1000.0);
  const auto deadline = Clock::now() + grace;
  while (s.in_flight > 0 && Clock::now() < deadline) {
    s.cv.wait_for(lk, kEventPoll);
    if (interrupted) {
      lk.unlock();
      const bool stop_now = interrupted();
      lk.lock();
      if (stop_now) break;
    }
  }
  if (s.in_flight > 0) {
    std::fprintf(stderr, "kvshare serve: cancelling %lld request(s) still in flight\n", static_cast<long long>(s.in_flight));
    s.cancel_all = true;
    for (engine::RequestHandle* h : s.handles) h->cancel();
    s.cv.wait_for(lk, kUnwindLimit, [&] { return s.in_flight == 0; });
  }
  s.stop_requested = true;
  const bool started = s.serve_started;
  const ConnectionStats cs = s.http.stats();
  std::fprintf(stderr, "kvshare serve: http: %llu connection(s) refused with 503 (over a cap), %llu closed at a read "
               "timeout\n", static_cast<unsigned long long>(cs.rejected), static_cast<unsigned long long>(cs.timed_out));
  lk.unlock();
  if (started) {
    // stop() is a no-op before listening began: wait (bounded) until the listener runs.
    for (int i = 0; i < 200 && !s.http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s.http.stop();
  }
}

}  // namespace kvs::server
