#include "store/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <cstdlib>

namespace kvs::store {

namespace {
using Clock = std::chrono::steady_clock;

timeval to_timeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.kind = RedisReply::Kind::kString; break;
    case REDIS_REPLY_STATUS: out.kind = RedisReply::Kind::kStatus; break;
    case REDIS_REPLY_ERROR: out.kind = RedisReply::Kind::kError; break;
    case REDIS_REPLY_INTEGER: out.kind = RedisReply::Kind::kInteger; break;
    case REDIS_REPLY_ARRAY: out.kind = RedisReply::Kind::kArray; break;
    default: out.kind = RedisReply::Kind::kNil; break;
  }
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    out.str.assign(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) out.integer = r->integer;
  if (r->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
  return out;
}

bool parse_int(std::string_view s, int lo, int hi, int* out) {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}
}  // namespace

Result<RedisUrl> parse_redis_url(const std::string& url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.compare(0, kScheme.size(), kScheme) != 0) return invalid_argument("redis URL must start with redis://: " + url);
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  RedisUrl u;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parse_int(db, 0, 1 << 20, &u.db)) return invalid_argument("bad database number in " + url);
    rest = rest.substr(0, slash);
  }
  if (rest.find('@') != std::string_view::npos) return invalid_argument("redis URL credentials are not supported: " + url);
  if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    if (!parse_int(rest.substr(colon + 1), 1, 65535, &u.port)) return invalid_argument("bad port in " + url);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return invalid_argument("no host in " + url);
  u.host = std::string(rest);
  return u;
}

RedisClient::RedisClient(RedisUrl url, int connect_timeout_ms, int command_timeout_ms)
    : url_(std::move(url)), connect_timeout_ms_(connect_timeout_ms), command_timeout_ms_(command_timeout_ms) {}

RedisClient::~RedisClient() {
  if (ctx_) redisFree(ctx_);
}

void RedisClient::drop(const std::string& why) {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
  last_error_ = why;
  retry_at_ = Clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(2000));
}

Status RedisClient::ensure_connected() {
  if (ctx_) return Status::ok();
  if (Clock::now() < retry_at_) return io_error("redis unavailable (backing off): " + last_error_);
  redisContext* c = redisConnectWithTimeout(url_.host.c_str(), url_.port, to_timeval(connect_timeout_ms_));
  if (!c || c->err) {
    const std::string why = c ? std::string("connect: ") + c->errstr : "connect: out of memory";
    if (c) redisFree(c);
    drop(why);
    return io_error(why);
  }
  ctx_ = c;
  redisSetTimeout(ctx_, to_timeval(command_timeout_ms_));
  if (url_.db != 0) {
    const std::string db = std::to_string(url_.db);
    auto r = command({"SELECT", db});
    if (!r.is_ok()) return r.status();
  }
  backoff_ = std::chrono::milliseconds(100);
  return Status::ok();
}

Result<RedisReply> RedisClient::command(const RedisArgs& args) {
  auto r = pipeline({args});
  if (!r.is_ok()) return r.status();
  return std::move(r.value()[0]);
}

Result<std::vector<RedisReply>> RedisClient::pipeline(const std::vector<RedisArgs>& cmds) {
  if (Status st = ensure_connected(); !st.is_ok()) return st;
  for (const RedisArgs& a : cmds) {
    std::vector<const char*> argv;  // (args)
    std::vector<size_t> lens;       // (args)
    for (std::string_view s : a) {
      argv.push_back(s.data());
      lens.push_back(s.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
      drop(std::string("append: ") + ctx_->errstr);
      return io_error(last_error_);
    }
  }
  std::vector<RedisReply> out;
  std::string error_reply;
  for (size_t i = 0; i < cmds.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      drop(std::string("reply: ") + (ctx_->errstr[0] ? ctx_->errstr : "no reply"));
      return io_error(last_error_);
    }
    auto* r = static_cast<redisReply*>(raw);
    out.push_back(convert(r));
    freeReplyObject(r);
    if (out.back().kind == RedisReply::Kind::kError && error_reply.empty()) error_reply = out.back().str;
  }
  if (!error_reply.empty()) return io_error("redis error reply: " + error_reply);  // the connection stays
  return out;
}

}  // namespace kvs::store
