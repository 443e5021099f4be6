// ServerConfig: what `kvshare serve` needs beyond the model: where to listen, who may call it (API keys ->
// tenant -> share domain), request limits and optional engine settings. Loaded from a JSON file (--config);
// without one the server is open: every request is tenant "default" in share domain "default".
//
// File format (every field optional except tenants[].name and tenants[].api_keys; unknown fields are errors,
// so a typo never silently falls back to a default):
//   {
//     "host": "127.0.0.1", "port": 8080,
//     "model_name": "smollm2",              // served model id (default: the GGUF file stem)
//     "limits": {"max_body_bytes": 1048576, "default_max_tokens": 1024, "shutdown_grace_s": 30,
//                "retry_after_s": 1, "max_connections": 256, "max_connections_per_client": 64,
//                "header_timeout_s": 10, "body_timeout_s": 30, "idle_timeout_s": 5},
//                ("http_threads", the old name of max_connections, is still read)
//     "operator_keys": ["sk-ops-1"],        // may read /metrics when tenants have keys
//     "metrics_public": false,              // true: /metrics needs no key
//     "allow_cache_salt": false,            // default of every tenant's allow_cache_salt (and the open tenant's)
//     "engine": {"kv_cache_mib": 256, "threads": 0, "max_batch_tokens": 512, "max_running": 64,
//                "max_waiting": 256},
//     "tenants": [
//       {"name": "acme",    "api_keys": ["sk-acme-1", "sk-acme-2"]},          // share domain "acme"
//       {"name": "globex",  "api_keys": ["sk-globex"], "share_domain": "g"},
//       {"name": "initech", "api_keys": ["sk-initech"], "share_domain": "acme"}, // shares acme's cache
//       {"name": "clinic",  "api_keys": ["sk-clinic"], "donate": false}  // reads caches, never lends its KV
//       // also "allow_cache_salt": true (requests may narrow their own share domain with vLLM's cache_salt),
//       // "sensitive_screen": false (default true: donate only the KV before a prompt's first e-mail,
//       // phone/ID number, date or introduced name; see docs/security.md)
//     ]
//   }
//
// Invariants (established by parse_server_config, relied on by the HTTP server):
//   - tenant names are unique; every tenant has at least one key; keys are unique across tenants;
//   - names and share domains are 1..64 chars of [A-Za-z0-9._-] (they appear in logs unquoted);
//   - keys are 1..256 printable ASCII chars without spaces (what an Authorization header can carry);
//   - Tenant::domain == share_domain_id(Tenant::share_domain): the client can never choose it;
//   - operator keys follow the same rules and are never also a tenant's key (a key is one or the other).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kvs::server {

// The 64-bit salt of a share domain name (XXH3 with a fixed seed): prefix-cache keys of different domains never
// collide (up to 2^-64), and the same name always maps to the same salt across restarts and instances.
uint64_t share_domain_id(std::string_view share_domain);

struct Tenant {
  std::string name;
  std::string share_domain;  // defaults to the tenant's name
  uint64_t domain = 0;       // share_domain_id(share_domain)
  bool donate = true;            // its prompts may become donors / prefix-cache entries for its share domain
  bool sensitive_screen = true;  // ... only up to the first sensitive span (engine/donation_policy.h)
  bool allow_cache_salt = false; // requests may send vLLM's cache_salt to narrow their share domain (else 400)
};

struct ServerLimits {
  int64_t max_body_bytes = 1 << 20;  // larger request bodies get 413
  int32_t default_max_tokens = 1024; // when a request gives no max_tokens (also capped by the context left)
  double shutdown_grace_s = 30;      // SIGTERM: how long in-flight requests may run before they are cancelled
  int32_t retry_after_s = 1;         // Retry-After on 429 (queue full)
  // Connections (src/server/guarded_server.h): over a cap a new connection is answered 503 and closed.
  int32_t max_connections = 256;            // open at once, all clients (each streaming request holds one)
  int32_t max_connections_per_client = 64;  // open at once from one remote address
  double header_timeout_s = 10;      // request line + headers, from the first byte
  double body_timeout_s = 30;        // the whole request body
  double idle_timeout_s = 5;         // keep-alive: between requests (and before the first)
};

// Engine settings from the file; command-line flags override them.
struct EngineOverrides {
  std::optional<int64_t> kv_cache_mib;
  std::optional<int32_t> threads, max_batch_tokens, max_running, max_waiting;
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int32_t port = 8080;
  std::string model_name;  // empty: the GGUF file stem
  ServerLimits limits;
  EngineOverrides engine;
  std::vector<Tenant> tenants;
  struct Key {
    std::string key;
    int32_t tenant = 0;  // index into tenants
  };
  std::vector<Key> keys;  // empty: open server (tenants holds the single "default" tenant)

  std::vector<std::string> operator_keys;  // may read /metrics (see metrics_need_key)
  bool metrics_public = false;
  bool log_json = false;  // request log lines as JSON objects (kvshare serve --log-format json)

  bool auth_required() const { return !keys.empty(); }
  // /metrics (every tenant's aggregate counts) needs an operator key when any key is configured, unless public.
  bool metrics_need_key() const { return !metrics_public && (!keys.empty() || !operator_keys.empty()); }
  bool is_operator_key(std::string_view key) const;  // constant time per key, like tenant_for_key
  // The tenant a presented API key belongs to, or nullptr. Compares against every key in constant time per key
  // so response timing does not reveal how much of a key matched.
  const Tenant* tenant_for_key(std::string_view key) const;
  // The tenant of an open server. REQUIRES: !auth_required().
  const Tenant& open_tenant() const;
};

// The share domain of a request that sent cache_salt: a sub-domain of `domain` only its salt reaches. It narrows
// (requests without the salt, or with another, never share with it) and cannot widen: no salt maps into another
// tenant's domain (up to 2^-64).
uint64_t narrowed_domain(uint64_t domain, std::string_view cache_salt);

// A config with no keys: one tenant "default" in share domain "default".
ServerConfig open_server_config();

// Parses and validates a config document. Errors are InvalidArgument "<origin>: <field path>: <problem>".
Result<ServerConfig> parse_server_config(std::string_view json_text, const std::string& origin);

// Reads and parses a config file (Io error naming the path when it cannot be read).
Result<ServerConfig> load_server_config(const std::string& path);

}  // namespace kvs::server
