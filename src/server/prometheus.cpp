#include "server/prometheus.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace kvs::server {

namespace {

// Shortest text that reads back as x ("0.0025", not "0.0025000000000000001").
std::string num(double x) {
  char buf[64];
  if (x == static_cast<double>(static_cast<int64_t>(x)) && x > -1e15 && x < 1e15) {  // integral: no exponent
    std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(x));
    return buf;
  }
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

// A label value as the exposition format wants it: \ " and newline escaped.
std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// Writes families; every sample gets the model_name label first, then its own labels.
class Writer {
 public:
  explicit Writer(const std::string& model_name) : model_label_("model_name=\"" + escape_label(model_name) + "\"") {}

  void header(const std::string& name, const char* type, const char* help) {
    out_ += "# HELP " + name + ' ' + help + "\n# TYPE " + name + ' ' + type + '\n';
  }
  void sample(const std::string& name, const std::string& labels, const std::string& value) {
    out_ += name + '{' + model_label_ + (labels.empty() ? "" : ",") + labels + "} " + value + '\n';
  }
  void counter(const std::string& name, uint64_t v, const char* help) {
    header(name, "counter", help);
    sample(name, "", std::to_string(v));
  }
  void gauge(const std::string& name, double v, const char* help) {
    header(name, "gauge", help);
    sample(name, "", num(v));
  }
  // One counter family with a label taking several values.
  void labelled(const std::string& name, const char* label, std::initializer_list<std::pair<const char*, uint64_t>> vs,
                const char* help) {
    header(name, "counter", help);
    for (const auto& [value, n] : vs) sample(name, std::string(label) + "=\"" + value + "\"", std::to_string(n));
  }
  void histogram(const std::string& name, const engine::Histogram& h, const char* help) {
    header(name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i < h.bounds.size(); ++i) {
      cum += h.counts[i];
      sample(name + "_bucket", "le=\"" + num(h.bounds[i]) + "\"", std::to_string(cum));
    }
    cum += h.counts.back();
    sample(name + "_bucket", "le=\"+Inf\"", std::to_string(cum));
    sample(name + "_sum", "", num(h.sum));
    sample(name + "_count", "", std::to_string(h.count));
  }
  std::string take() { return std::move(out_); }

 private:
  const std::string model_label_;
  std::string out_;
};

const std::string K = "kvshare_";
const std::string V = "vllm:";

double kv_usage(const engine::MetricsSnapshot& m) {
  return m.kv_blocks_total > 0 ? 1.0 - static_cast<double>(m.kv_blocks_free) / static_cast<double>(m.kv_blocks_total)
                               : 0.0;
}

double reuse_ratio(const engine::MetricsSnapshot& m) {
  if (m.prompt_tokens == 0) return 0.0;
  const double r = 1.0 - static_cast<double>(m.computed_prompt_tokens) / static_cast<double>(m.prompt_tokens);
  return std::clamp(r, 0.0, 1.0);  // recompute after preemption can exceed the prompt tokens
}

void render_requests(Writer& w, const engine::MetricsSnapshot& m) {
  w.counter(K + "requests_total", m.requests_total, "Requests accepted by the engine.");
  w.counter(K + "requests_finished_total", m.requests_finished, "Requests that finished normally (stop or length).");
  w.counter(K + "requests_cancelled_total", m.requests_cancelled, "Requests cancelled (client gone or shutdown).");
  w.counter(K + "requests_rejected_total", m.requests_rejected, "Requests refused because the queue was full.");
  w.counter(K + "requests_failed_total", m.requests_failed, "Requests that failed with an engine error.");
  for (const std::string& p : {K, V})
    w.labelled(p + "request_success_total", "finished_reason", {{"stop", m.finished_stop}, {"length", m.finished_length}},
               "Requests finished normally, by finish reason.");
  w.labelled(K + "requests_by_mode_total", "mode",
             {{"full", m.mode_full}, {"prefix", m.mode_prefix}, {"semantic", m.mode_semantic}, {"fell_back", m.mode_fell_back}},
             "Requests whose prompt was computed, by how its KV was obtained (fell_back: a semantic plan the quality "
             "guard turned into a full prefill).");
  w.gauge(K + "prompt_reuse_ratio", reuse_ratio(m), "Share of admitted prompt tokens whose KV was reused, not computed (0..1).");
  w.counter(K + "preemptions_total", m.preemptions, "Sequences preempted for lack of KV blocks.");
  w.counter(V + "num_preemptions_total", m.preemptions, "Sequences preempted for lack of KV blocks.");
}

void render_tokens(Writer& w, const engine::MetricsSnapshot& m) {
  for (const std::string& p : {K, V}) {
    w.counter(p + "prompt_tokens_total", m.prompt_tokens, "Prompt tokens of admitted requests.");
    w.counter(p + "generation_tokens_total", m.generation_tokens, "Generated tokens.");
    w.counter(p + "prefix_cache_queries_total", m.prefix_query_tokens, "Prompt tokens looked up in the prefix cache.");
    w.counter(p + "prefix_cache_hits_total", m.prefix_cached_tokens, "Prompt tokens found in the prefix cache.");
  }
  w.counter(K + "computed_prompt_tokens_total", m.computed_prompt_tokens,
            "Prompt tokens run through the model (not served from the KV cache).");
  w.counter(K + "cached_prompt_tokens_total", m.prefix_cached_tokens, "Prompt tokens whose K/V came from the prefix cache.");
  w.counter(K + "prefix_cache_lookups_total", m.prefix_queries, "Prefix-cache lookups.");
  w.counter(K + "prefix_cache_lookup_hits_total", m.prefix_hits, "Prefix-cache lookups that reused at least one block.");
}

void render_sharing(Writer& w, const engine::MetricsSnapshot& m) {
  w.counter(K + "semantic_queries_total", m.semantic_queries, "Semantic donor lookups.");
  w.counter(K + "run_retrievals_total", m.run_retrievals,
            "Semantic donor lookups answered by shared token runs, without embedding the prompt.");
  w.gauge(K + "donors", m.donors, "Prompts registered as donors (all share domains).");
  w.counter(K + "donors_retired_total", m.donors_retired, "Donors retired because a newer donor contained their prompt.");
  w.counter(K + "semantic_hits_total", m.semantic_hits, "Semantic donor lookups that reused a donor.");
  w.counter(K + "semantic_reused_tokens_total", m.semantic_reused_tokens, "Prompt tokens reused from semantic donors.");
  w.counter(K + "semantic_recomputed_tokens_total", m.semantic_recomputed_tokens,
            "Reused tokens recomputed for quality (CacheBlend selection).");
  w.counter(K + "semantic_fallbacks_total", m.semantic_fallbacks, "Semantic plans abandoned for a full prefill.");
  w.counter(K + "engine_steps_total", m.steps, "Engine steps (one forward each).");
  w.counter(K + "batched_rows_total", m.batched_rows, "Rows (tokens) computed over all steps.");
  w.counter(K + "repair_rows_total", m.repair_rows, "Decode-stage repair rows (approximate KV recomputed exactly).");
  w.counter(K + "repaired_sequences_total", m.repaired_sequences, "Semantic sequences whose KV repair made exact.");
  w.counter(K + "background_repairs_total", m.background_repairs,
            "Finished semantic prompts repaired to exact while idle, then published and donated.");
  w.counter(K + "background_repairs_dropped_total", m.background_dropped,
            "Pending background repairs dropped because requests were waiting or blocks were needed.");
  w.gauge(K + "background_repairs_pending", m.background_pending, "Finished prompts waiting for idle-time repair.");
}

void render_gauges(Writer& w, const engine::MetricsSnapshot& m) {
  for (const std::string& p : {K, V}) {
    const bool v = p == V;
    w.gauge(p + (v ? "num_requests_running" : "requests_running"), static_cast<double>(m.running),
            "Sequences scheduled (prefilling or decoding).");
    w.gauge(p + (v ? "num_requests_waiting" : "requests_waiting"), static_cast<double>(m.waiting),
            "Sequences waiting for admission.");
  }
  w.gauge(K + "kv_blocks_total", static_cast<double>(m.kv_blocks_total), "Usable KV blocks.");
  w.gauge(K + "kv_blocks_free", static_cast<double>(m.kv_blocks_free), "Free KV blocks (including cached, evictable ones).");
  w.gauge(K + "kv_blocks_cached", static_cast<double>(m.kv_blocks_cached), "KV blocks registered in the prefix cache.");
  w.gauge(K + "kv_block_size_tokens", static_cast<double>(m.kv_block_size), "Tokens per KV block.");
  w.gauge(K + "kv_cache_usage_ratio", kv_usage(m), "Fraction of KV blocks held by running sequences (0..1).");
  w.gauge(V + "kv_cache_usage_perc", kv_usage(m), "Fraction of KV blocks held by running sequences (0..1).");
}

void render_histograms(Writer& w, const engine::MetricsSnapshot& m) {
  for (const std::string& p : {K, V}) {
    w.histogram(p + "time_to_first_token_seconds", m.ttft, "Submit to first generated token.");
    w.histogram(p + "inter_token_latency_seconds", m.inter_token, "Time between consecutive generated tokens.");
    w.histogram(p + "e2e_request_latency_seconds", m.e2e, "Submit to finish.");
    w.histogram(p + "request_queue_time_seconds", m.queue_time, "Submit to first scheduled (waiting in the queue).");
    w.histogram(p + "request_prefill_time_seconds", m.prefill_time, "First scheduled to first token (prompt computation).");
    w.histogram(p + "request_decode_time_seconds", m.decode_time, "First token to finish (generation).");
    w.histogram(p + "request_prompt_tokens", m.prompt_len, "Prompt length of finished requests, in tokens.");
    w.histogram(p + "request_generation_tokens", m.generation_len, "Generated tokens of finished requests.");
  }
}

void render_redis(Writer& w, const engine::MetricsSnapshot& m) {
  if (!m.redis_enabled) return;
  w.gauge(K + "redis_up", m.redis_up ? 1 : 0, "1 while the Redis tier's last call succeeded, else 0.");
  w.counter(K + "redis_errors_total", m.redis_errors, "Redis calls that failed (connect, timeout, error reply).");
  w.counter(K + "redis_bytes_written_total", m.redis_bytes_written, "Bytes of records written to Redis.");
  w.counter(K + "redis_bytes_read_total", m.redis_bytes_read, "Bytes of KV blocks fetched from Redis.");
  w.counter(K + "redis_blocks_written_total", m.redis_blocks_written, "KV blocks written to Redis (write-on-donate).");
  w.counter(K + "redis_blocks_read_total", m.redis_blocks_read, "KV blocks fetched from Redis into the pool.");
  w.counter(K + "redis_donors_written_total", m.redis_donors_written, "Donor records written and announced.");
  w.counter(K + "redis_donors_learned_total", m.redis_donors_learned,
            "Donors announced on the stream (by any instance) added to this instance's index.");
  w.counter(K + "redis_misses_total", m.redis_misses, "Known blocks gone from Redis (expired or evicted).");
  w.counter(K + "redis_corrupt_records_total", m.redis_corrupt_records,
            "Redis values refused: checksum, model, key, domain or token mismatch.");
  w.counter(K + "redis_dropped_donations_total", m.redis_dropped_donations,
            "Donations not written to Redis (queue full or Redis unavailable).");
  w.counter(K + "redis_keys_evicted_total", m.redis_keys_evicted, "Keys deleted to keep this instance's budget.");
  w.labelled(K + "redis_fetch_decisions_total", "choice",
             {{"fetch", m.redis_decisions_fetch}, {"recompute", m.redis_decisions_recompute}},
             "Cost-model decisions for blocks only Redis holds: fetch them, or recompute.");
  w.gauge(K + "redis_usage_bytes", static_cast<double>(m.redis_usage_bytes),
          "Bytes this instance keeps in Redis (its own accounting).");
  w.gauge(K + "redis_blocks", static_cast<double>(m.redis_blocks), "KV blocks known to be in Redis.");
  w.gauge(K + "redis_donors", static_cast<double>(m.redis_donors), "Redis donors in this instance's index.");
  w.gauge(K + "redis_fetch_bytes_per_second", m.redis_fetch_bytes_per_s,
          "Redis fetch bandwidth (EWMA of real fetches, seeded by a probe).");
  w.gauge(K + "prefill_tokens_per_second", m.prefill_tokens_per_s, "Prefill speed (EWMA of recent prompt steps).");
  w.histogram(K + "redis_fetch_seconds", m.redis_fetch, "Fetching one KV block from the Redis tier.");
}

void render_tiers(Writer& w, const engine::MetricsSnapshot& m) {
  w.header(K + "tier_hits_total", "counter", "Admissions that reused cached KV, by the tier its blocks came from.");
  w.sample(K + "tier_hits_total", "tier=\"ram\"", std::to_string(m.tier_hits_ram));
  w.sample(K + "tier_hits_total", "tier=\"disk\"", std::to_string(m.tier_hits_disk));
  w.sample(K + "tier_hits_total", "tier=\"redis\"", std::to_string(m.tier_hits_redis));
  render_redis(w, m);
  if (!m.disk_enabled) return;
  w.counter(K + "disk_bytes_written_total", m.disk_bytes_written, "Bytes appended to disk-tier segments.");
  w.counter(K + "disk_bytes_read_total", m.disk_bytes_read, "Bytes read back from disk-tier segments.");
  w.counter(K + "disk_demotions_total", m.disk_demotions, "KV blocks written to the disk tier (write-on-donate).");
  w.counter(K + "disk_promotions_total", m.disk_promotions, "KV blocks read back from the disk tier into the pool.");
  w.counter(K + "disk_corrupt_records_total", m.disk_corrupt_records,
            "Disk-tier records skipped or refused: checksum, model, key, domain or token mismatch.");
  w.counter(K + "disk_write_errors_total", m.disk_write_errors, "Donations whose disk write failed (RAM only).");
  w.counter(K + "disk_segments_skipped_total", m.disk_segments_skipped,
            "Segments skipped at start-up: unreadable header, other model or KV layout.");
  w.gauge(K + "disk_usage_bytes", static_cast<double>(m.disk_usage_bytes), "Bytes of the live disk-tier segments.");
  w.gauge(K + "disk_blocks", static_cast<double>(m.disk_blocks), "KV blocks stored in the disk tier.");
  w.gauge(K + "disk_donors", static_cast<double>(m.disk_donors), "Donor records stored in the disk tier.");
  w.histogram(K + "disk_fetch_seconds", m.disk_fetch, "Reading one KV block back from the disk tier.");
}

}  // namespace

std::string render_prometheus(const engine::MetricsSnapshot& m, const HttpCounters& http, const std::string& model_name) {
  Writer w(model_name);
  render_requests(w, m);
  render_tokens(w, m);
  render_sharing(w, m);
  render_gauges(w, m);
  render_histograms(w, m);
  render_tiers(w, m);
  w.header(K + "http_responses_total", "counter", "HTTP responses sent, by status code.");
  for (const auto& [code, n] : http.responses_by_status)
    w.sample(K + "http_responses_total", "code=\"" + std::to_string(code) + "\"", std::to_string(n));
  w.gauge(K + "http_requests_in_flight", static_cast<double>(http.in_flight), "Completion requests being served.");
  w.gauge(K + "draining", http.draining ? 1.0 : 0.0, "1 while the server shuts down.");
  return w.take();
}

}  // namespace kvs::server
