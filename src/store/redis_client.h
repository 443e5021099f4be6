// RedisClient: one synchronous connection to a Redis server (hiredis), with a timeout on connect and on every
// command, and reconnection with exponential backoff. Not thread-safe: each thread that talks to Redis owns one.
//
// Invariants: no call waits longer than connect_timeout + command_timeout (per command of a pipeline); after a
// failure the connection is dropped and no connect is tried again before the backoff (100 ms doubling to 2 s)
// has passed: calls in between fail at once with Io "redis unavailable (backing off)"; a reply is converted
// to RedisReply before return (no hiredis object escapes).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

struct redisContext;

namespace kvs::store {

// redis://HOST:PORT[/DB]  (HOST an address or name; PORT default 6379; DB default 0).
struct RedisUrl {
  std::string host;
  int port = 6379;
  int db = 0;
};
Result<RedisUrl> parse_redis_url(const std::string& url);

struct RedisReply {
  enum class Kind { kNil, kString, kInteger, kArray, kStatus, kError };
  Kind kind = Kind::kNil;
  std::string str;                   // kString / kStatus / kError
  long long integer = 0;             // kInteger
  std::vector<RedisReply> elements;  // kArray
};

using RedisArgs = std::vector<std::string_view>;  // one command, binary-safe arguments

class RedisClient {
 public:
  RedisClient(RedisUrl url, int connect_timeout_ms, int command_timeout_ms);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Io on a connection failure, timeout or error reply (the message says which).
  Result<RedisReply> command(const RedisArgs& args);
  // All commands in one round trip; Io when any fails (then the connection is reset).
  Result<std::vector<RedisReply>> pipeline(const std::vector<RedisArgs>& cmds);
  bool connected() const { return ctx_ != nullptr; }

 private:
  Status ensure_connected();
  void drop(const std::string& why);

  RedisUrl url_;
  int connect_timeout_ms_, command_timeout_ms_;
  redisContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{100};
  std::string last_error_;
};

}  // namespace kvs::store
