#include "server/request_log.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "server/openai_api.h"

namespace kvs::server {

namespace {

using nlohmann::json;

std::atomic<bool> g_log_json{false};  // see set_request_log_json

std::string utc_timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string text_line(const RequestLog& r) {
  std::string line = utc_timestamp() + " " + r.method + " " + r.path + " " + std::to_string(r.status) + " tenant=" + r.tenant;
  if (!r.id.empty()) line += " id=" + r.id + (r.stream ? " stream=1" : " stream=0");
  char buf[256];
  if (r.has_usage) {
    std::snprintf(buf, sizeof(buf), " prompt=%lld cached=%lld completion=%lld ttft_ms=%.1f",
                  static_cast<long long>(r.usage.prompt_tokens), static_cast<long long>(r.usage.cached_tokens),
                  static_cast<long long>(r.usage.completion_tokens), r.usage.ttft_ms);
    line += buf;
  }
  std::snprintf(buf, sizeof(buf), " total_ms=%.1f", ms_since(r.start));
  line += buf;
  if (!r.finish.empty()) line += " finish=" + r.finish;
  if (!r.error.empty()) line += " error=" + dump_json(json(r.error));
  return "kvshare serve: " + line + "\n";
}

std::string json_line(const RequestLog& r) {
  json j = {{"ts", utc_timestamp()}, {"method", r.method}, {"path", r.path}, {"status", r.status},
            {"tenant", r.tenant},    {"total_ms", ms_since(r.start)}};
  if (!r.id.empty()) {
    j["id"] = r.id;
    j["stream"] = r.stream;
  }
  if (r.has_usage) {
    j["prompt_tokens"] = r.usage.prompt_tokens;
    j["cached_tokens"] = r.usage.cached_tokens;
    j["completion_tokens"] = r.usage.completion_tokens;
    j["queue_ms"] = r.usage.queue_ms;
    j["embed_ms"] = r.usage.embed_ms;
    j["ttft_ms"] = r.usage.ttft_ms;
    j["share_mode"] = r.usage.share.mode;
  }
  if (!r.finish.empty()) j["finish"] = r.finish;
  if (!r.error.empty()) j["error"] = r.error;
  return dump_json(j) + "\n";
}

}  // namespace

void set_request_log_json(bool on) { g_log_json.store(on); }

void RequestLog::emit() const { std::fputs((g_log_json.load() ? json_line(*this) : text_line(*this)).c_str(), stderr); }

}  // namespace kvs::server
