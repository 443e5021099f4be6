#include "server/prometheus.h"

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

class Writer {
 public:
  void header(const char* name, const char* type, const char* help) {
    out_ += "# HELP kvshare_";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE kvshare_";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(const char* name, const std::string& labels, const std::string& value) {
    out_ += "kvshare_";
    out_ += name;
    out_ += labels;
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void counter(const char* name, uint64_t v, const char* help) {
    header(name, "counter", help);
    sample(name, "", std::to_string(v));
  }
  void gauge(const char* name, double v, const char* help) {
    header(name, "gauge", help);
    sample(name, "", num(v));
  }
  void histogram(const char* name, const engine::Histogram& h, const char* help) {
    header(name, "histogram", help);
    const std::string bucket = std::string(name) + "_bucket";
    uint64_t cum = 0;
    for (size_t i = 0; i < engine::Histogram::kBounds.size(); ++i) {
      cum += h.counts[i];
      sample(bucket.c_str(), "{le=\"" + num(engine::Histogram::kBounds[i]) + "\"}", std::to_string(cum));
    }
    cum += h.counts.back();
    sample(bucket.c_str(), "{le=\"+Inf\"}", std::to_string(cum));
    sample((std::string(name) + "_sum").c_str(), "", num(h.sum));
    sample((std::string(name) + "_count").c_str(), "", std::to_string(h.count));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string render_prometheus(const engine::MetricsSnapshot& m, const HttpCounters& http) {
  Writer w;
  w.counter("requests_total", m.requests_total, "Requests accepted by the engine.");
  w.counter("requests_finished_total", m.requests_finished, "Requests that finished normally (stop or length).");
  w.counter("requests_cancelled_total", m.requests_cancelled, "Requests cancelled (client gone or shutdown).");
  w.counter("requests_rejected_total", m.requests_rejected, "Requests refused because the queue was full.");
  w.counter("requests_failed_total", m.requests_failed, "Requests that failed with an engine error.");
  w.counter("preemptions_total", m.preemptions, "Sequences preempted for lack of KV blocks.");
  w.counter("prompt_tokens_total", m.prompt_tokens, "Prompt tokens of admitted requests.");
  w.counter("computed_prompt_tokens_total", m.computed_prompt_tokens,
            "Prompt tokens run through the model (not served from the KV cache).");
  w.counter("cached_prompt_tokens_total", m.prefix_cached_tokens, "Prompt tokens whose K/V came from the prefix cache.");
  w.counter("generation_tokens_total", m.generation_tokens, "Generated tokens.");
  w.counter("prefix_cache_queries_total", m.prefix_queries, "Prefix-cache lookups.");
  w.counter("prefix_cache_hits_total", m.prefix_hits, "Prefix-cache lookups that reused at least one block.");
  w.counter("semantic_queries_total", m.semantic_queries, "Semantic donor lookups.");
  w.gauge("donors", m.donors, "Prompts registered as donors (all share domains).");
  w.counter("donors_retired_total", m.donors_retired, "Donors retired because a newer donor contained their prompt.");
  w.counter("semantic_hits_total", m.semantic_hits, "Semantic donor lookups that reused a donor.");
  w.counter("semantic_reused_tokens_total", m.semantic_reused_tokens, "Prompt tokens reused from semantic donors.");
  w.counter("semantic_recomputed_tokens_total", m.semantic_recomputed_tokens,
            "Reused tokens recomputed for quality (CacheBlend selection).");
  w.counter("semantic_fallbacks_total", m.semantic_fallbacks, "Semantic plans abandoned for a full prefill.");
  w.counter("engine_steps_total", m.steps, "Engine steps (one forward each).");
  w.counter("batched_rows_total", m.batched_rows, "Rows (tokens) computed over all steps.");
  w.counter("repair_rows_total", m.repair_rows, "Decode-stage repair rows (approximate KV recomputed exactly).");
  w.counter("repaired_sequences_total", m.repaired_sequences, "Semantic sequences whose KV repair made exact.");
  w.counter("background_repairs_total", m.background_repairs,
            "Finished semantic prompts repaired to exact while idle, then published and donated.");
  w.counter("background_repairs_dropped_total", m.background_dropped,
            "Pending background repairs dropped because requests were waiting or blocks were needed.");
  w.gauge("background_repairs_pending", m.background_pending, "Finished prompts waiting for idle-time repair.");
  w.gauge("requests_running", static_cast<double>(m.running), "Sequences scheduled (prefilling or decoding).");
  w.gauge("requests_waiting", static_cast<double>(m.waiting), "Sequences waiting for admission.");
  w.gauge("kv_blocks_total", static_cast<double>(m.kv_blocks_total), "Usable KV blocks.");
  w.gauge("kv_blocks_free", static_cast<double>(m.kv_blocks_free), "Free KV blocks (including cached, evictable ones).");
  w.gauge("kv_blocks_cached", static_cast<double>(m.kv_blocks_cached), "KV blocks registered in the prefix cache.");
  w.gauge("kv_block_size_tokens", static_cast<double>(m.kv_block_size), "Tokens per KV block.");
  const double usage =
      m.kv_blocks_total > 0 ? 1.0 - static_cast<double>(m.kv_blocks_free) / static_cast<double>(m.kv_blocks_total) : 0.0;
  w.gauge("kv_cache_usage_ratio", usage, "Fraction of KV blocks held by running sequences (0..1).");
  w.histogram("time_to_first_token_seconds", m.ttft, "Submit to first generated token.");
  w.histogram("inter_token_latency_seconds", m.inter_token, "Time between consecutive generated tokens.");
  w.histogram("e2e_request_latency_seconds", m.e2e, "Submit to finish.");
  w.header("tier_hits_total", "counter", "Admissions that reused cached KV, by the tier its blocks came from.");
  w.sample("tier_hits_total", "{tier=\"ram\"}", std::to_string(m.tier_hits_ram));
  w.sample("tier_hits_total", "{tier=\"disk\"}", std::to_string(m.tier_hits_disk));
  if (m.disk_enabled) {
    w.counter("disk_bytes_written_total", m.disk_bytes_written, "Bytes appended to disk-tier segments.");
    w.counter("disk_bytes_read_total", m.disk_bytes_read, "Bytes read back from disk-tier segments.");
    w.counter("disk_demotions_total", m.disk_demotions, "KV blocks written to the disk tier (write-on-donate).");
    w.counter("disk_promotions_total", m.disk_promotions, "KV blocks read back from the disk tier into the pool.");
    w.counter("disk_corrupt_records_total", m.disk_corrupt_records,
              "Disk-tier records skipped or refused: checksum, model, key, domain or token mismatch.");
    w.counter("disk_write_errors_total", m.disk_write_errors, "Donations whose disk write failed (RAM only).");
    w.counter("disk_segments_skipped_total", m.disk_segments_skipped,
              "Segments skipped at start-up: unreadable header, other model or KV layout.");
    w.gauge("disk_usage_bytes", static_cast<double>(m.disk_usage_bytes), "Bytes of the live disk-tier segments.");
    w.gauge("disk_blocks", static_cast<double>(m.disk_blocks), "KV blocks stored in the disk tier.");
    w.gauge("disk_donors", static_cast<double>(m.disk_donors), "Donor records stored in the disk tier.");
    w.histogram("disk_fetch_seconds", m.disk_fetch, "Reading one KV block back from the disk tier.");
  }
  w.header("http_responses_total", "counter", "HTTP responses sent, by status code.");
  for (const auto& [code, n] : http.responses_by_status)
    w.sample("http_responses_total", "{code=\"" + std::to_string(code) + "\"}", std::to_string(n));
  w.gauge("http_requests_in_flight", static_cast<double>(http.in_flight), "Completion requests being served.");
  w.gauge("draining", http.draining ? 1.0 : 0.0, "1 while the server shuts down.");
  return w.take();
}

}  // namespace kvs::server
