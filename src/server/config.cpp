#include "server/config.h"

#include <xxhash.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace kvs::server {

namespace {

using nlohmann::json;

constexpr uint64_t kDomainSeed = 0x6b76736861726564ULL;  // "kvshared"

// Strict reader for one JSON object: typed getters record the first error; finish() rejects unknown fields.
class ObjectReader {
 public:
  ObjectReader(const json& obj, std::string path, std::string* error) : obj_(obj), path_(std::move(path)), error_(error) {
    if (!obj_.is_object()) fail(path_.empty() ? "the document must be a JSON object" : path_ + ": must be an object");
  }

  const json* get(const std::string& key) {
    seen_.insert(key);
    if (!ok() || !obj_.is_object()) return nullptr;
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }

  void boolean(const std::string& key, bool& out) {
    if (const json* v = get(key)) {
      if (!v->is_boolean()) return fail(field(key) + ": must be true or false");
      out = v->get<bool>();
    }
  }

  void string(const std::string& key, std::string& out) {
    if (const json* v = get(key)) {
      if (!v->is_string()) return fail(field(key) + ": must be a string");
      out = v->get<std::string>();
    }
  }

  template <typename Int>
  void integer(const std::string& key, Int& out, int64_t lo, int64_t hi) {
    if (const json* v = get(key)) {
      if (!v->is_number_integer()) return fail(field(key) + ": must be an integer");
      const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
      if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return fail(field(key) + ": out of range " + range);
      const int64_t x = v->get<int64_t>();
      if (x < lo || x > hi) return fail(field(key) + ": " + std::to_string(x) + " is out of range " + range);
      out = static_cast<Int>(x);
    }
  }

  template <typename Int>
  void optional_integer(const std::string& key, std::optional<Int>& out, int64_t lo, int64_t hi) {
    Int x{};
    const bool present = get(key) != nullptr;
    integer(key, x, lo, hi);
    if (present && ok()) out = x;
  }

  void number(const std::string& key, double& out, double lo, double hi) {
    if (const json* v = get(key)) {
      if (!v->is_number()) return fail(field(key) + ": must be a number");
      const double x = v->get<double>();
      if (!(x >= lo && x <= hi))
        return fail(field(key) + ": " + v->dump() + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
      out = x;
    }
  }

  // Rejects fields no getter asked for.
  void finish() {
    if (!ok() || !obj_.is_object()) return;
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      if (seen_.count(it.key())) continue;
      std::string known;
      for (const auto& k : seen_) known += (known.empty() ? "" : ", ") + k;
      return fail(field(it.key()) + ": unknown field (expected one of: " + known + ")");
    }
  }

  std::string field(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  bool ok() const { return error_->empty(); }
  void fail(const std::string& msg) {
    if (ok()) *error_ = msg;
  }

 private:
  const json& obj_;
  std::string path_;
  std::string* error_;
  std::set<std::string> seen_;
};

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

std::string check_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return "must be 1..64 characters";
  for (char c : s)
    if (!is_name_char(c)) return "may only contain letters, digits, '.', '_' and '-'";
  return "";
}

std::string check_key(const std::string& s) {
  if (s.empty() || s.size() > 256) return "must be 1..256 characters";
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f) return "may only contain printable ASCII characters other than space";
  return "";
}

// Equal strings in time that depends on the lengths only.
bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Tenant make_tenant(std::string name, std::string share_domain) {
  Tenant t;
  t.name = std::move(name);
  t.share_domain = share_domain.empty() ? t.name : std::move(share_domain);
  t.domain = share_domain_id(t.share_domain);
  return t;
}

}  // namespace

uint64_t share_domain_id(std::string_view share_domain) {
  return XXH3_64bits_withSeed(share_domain.data(), share_domain.size(), kDomainSeed);
}

const Tenant* ServerConfig::tenant_for_key(std::string_view key) const {
  const Tenant* found = nullptr;
  for (const auto& k : keys)  // no early exit: every key is compared
    if (constant_time_equal(k.key, key) && found == nullptr) found = &tenants[k.tenant];
  return found;
}

bool ServerConfig::is_operator_key(std::string_view key) const {
  bool found = false;
  for (const auto& k : operator_keys) found |= constant_time_equal(k, key);  // no early exit
  return found;
}

uint64_t narrowed_domain(uint64_t domain, std::string_view cache_salt) {
  // Seeded by the parent domain's salt: a salted sub-domain of one tenant's domain is unrelated (up to 2^-64) to
  // every named domain and to every sub-domain of another.
  return XXH3_64bits_withSeed(cache_salt.data(), cache_salt.size(), domain ^ 0x73616c7465642d2dULL);
}

const Tenant& ServerConfig::open_tenant() const {
  KVS_CHECK(!auth_required() && !tenants.empty());
  return tenants.front();
}

ServerConfig open_server_config() {
  ServerConfig c;
  c.tenants.push_back(make_tenant("default", "default"));
  return c;
}

Result<ServerConfig> parse_server_config(std::string_view json_text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(json_text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    return invalid_argument(origin + ": not valid JSON: " + e.what());
  }
  ServerConfig cfg;
  std::string err;
  ObjectReader top(doc, "", &err);
  top.string("host", cfg.host);
  top.integer("port", cfg.port, 0, 65535);
  top.string("model_name", cfg.model_name);
  if (const json* lim = top.get("limits")) {
    ObjectReader r(*lim, "limits", &err);
    r.integer("max_body_bytes", cfg.limits.max_body_bytes, 1024, int64_t{1} << 30);
    r.integer("default_max_tokens", cfg.limits.default_max_tokens, 1, 1 << 20);
    r.number("shutdown_grace_s", cfg.limits.shutdown_grace_s, 0, 3600);
    r.integer("http_threads", cfg.limits.max_connections, 2, 4096);  // the old name of max_connections
    r.integer("max_connections", cfg.limits.max_connections, 2, 4096);
    r.integer("max_connections_per_client", cfg.limits.max_connections_per_client, 1, 4096);
    r.number("header_timeout_s", cfg.limits.header_timeout_s, 0.1, 3600);
    r.number("body_timeout_s", cfg.limits.body_timeout_s, 0.1, 3600);
    r.number("idle_timeout_s", cfg.limits.idle_timeout_s, 0.1, 3600);
    r.integer("retry_after_s", cfg.limits.retry_after_s, 1, 3600);
    r.finish();
  }
  if (const json* eng = top.get("engine")) {
    ObjectReader r(*eng, "engine", &err);
    r.optional_integer("kv_cache_mib", cfg.engine.kv_cache_mib, 1, int64_t{1} << 24);
    r.optional_integer("threads", cfg.engine.threads, 0, 1024);
    r.optional_integer("max_batch_tokens", cfg.engine.max_batch_tokens, 1, 1 << 20);
    r.optional_integer("max_running", cfg.engine.max_running, 1, 1 << 16);
    r.optional_integer("max_waiting", cfg.engine.max_waiting, 0, 1 << 20);
    r.finish();
  }
  bool allow_salt_default = false;
  top.boolean("allow_cache_salt", allow_salt_default);
  if (const json* mp = top.get("metrics_public")) {
    if (!mp->is_boolean()) top.fail("metrics_public: must be true or false");
    else cfg.metrics_public = mp->get<bool>();
  }
  std::set<std::string> names, keys;
  if (const json* ops = top.get("operator_keys")) {
    if (!ops->is_array()) top.fail("operator_keys: must be an array of strings");
    for (size_t k = 0; err.empty() && ops->is_array() && k < ops->size(); ++k) {
      const std::string kpath = "operator_keys[" + std::to_string(k) + "]";
      if (!(*ops)[k].is_string()) {
        err = kpath + ": must be a string";
        break;
      }
      std::string key = (*ops)[k].get<std::string>();
      if (auto e = check_key(key); !e.empty()) err = kpath + ": " + e;
      else if (!keys.insert(key).second) err = kpath + ": the same key is listed twice";
      else cfg.operator_keys.push_back(std::move(key));
    }
  }
  if (const json* ts = top.get("tenants")) {
    if (!ts->is_array()) top.fail("tenants: must be an array");
    for (size_t i = 0; err.empty() && ts->is_array() && i < ts->size(); ++i) {
      const std::string path = "tenants[" + std::to_string(i) + "]";
      ObjectReader r((*ts)[i], path, &err);
      std::string name, domain;
      bool donate = true, screen = true, allow_salt = allow_salt_default;
      r.boolean("allow_cache_salt", allow_salt);
      r.string("name", name);
      r.string("share_domain", domain);
      r.boolean("donate", donate);
      r.boolean("sensitive_screen", screen);
      const json* ks = r.get("api_keys");
      r.finish();
      if (!err.empty()) break;
      if (auto e = check_name(name); !e.empty()) {
        err = path + ".name: " + (name.empty() ? "is required and " : "") + e;
        break;
      }
      if (!names.insert(name).second) {
        err = path + ".name: duplicate tenant '" + name + "'";
        break;
      }
      if (!domain.empty())
        if (auto e = check_name(domain); !e.empty()) {
          err = path + ".share_domain: " + e;
          break;
        }
      if (ks == nullptr || !ks->is_array() || ks->empty()) {
        err = path + ".api_keys: must be a non-empty array of strings";
        break;
      }
      const int32_t tenant_index = static_cast<int32_t>(cfg.tenants.size());
      cfg.tenants.push_back(make_tenant(name, domain));
      cfg.tenants.back().donate = donate;
      cfg.tenants.back().sensitive_screen = screen;
      cfg.tenants.back().allow_cache_salt = allow_salt;
      for (size_t k = 0; k < ks->size(); ++k) {
        const std::string kpath = path + ".api_keys[" + std::to_string(k) + "]";
        if (!(*ks)[k].is_string()) {
          err = kpath + ": must be a string";
          break;
        }
        std::string key = (*ks)[k].get<std::string>();
        if (auto e = check_key(key); !e.empty()) {
          err = kpath + ": " + e;
          break;
        }
        if (!keys.insert(key).second) {
          err = kpath + ": the same key is listed twice (a key belongs to one tenant, or is an operator key)";
          break;
        }
        cfg.keys.push_back({std::move(key), tenant_index});
      }
    }
  }
  top.finish();
  if (err.empty() && cfg.host.empty()) err = "host: must not be empty";
  if (err.empty() && !cfg.model_name.empty() && cfg.model_name.find_first_of(" \t\r\n") != std::string::npos)
    err = "model_name: must not contain whitespace";
  if (!err.empty()) return invalid_argument(origin + ": " + err);
  if (cfg.tenants.empty()) {  // no tenants: an open server
    ServerConfig open = open_server_config();
    cfg.tenants = std::move(open.tenants);
    cfg.tenants.front().allow_cache_salt = allow_salt_default;
  }
  return cfg;
}

Result<ServerConfig> load_server_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open the config file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error("cannot read the config file " + path);
  return parse_server_config(ss.str(), path);
}

}  // namespace kvs::server
