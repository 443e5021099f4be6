#include "server/dashboard/sharing_view.h"

#include <algorithm>

#include "base/status.h"

namespace kvs::server {
namespace {
using nlohmann::json;

const char* keep_class(int32_t shift) { return shift == 0 ? "reused" : "moved"; }

json count_classes(const std::vector<std::string>& classes) {
  json c = json::object();
  for (const char* k : {"reused", "moved", "inserted", "recomputed", "computed", "deleted"}) c[k] = 0;
  for (const std::string& k : classes) c[k] = c[k].get<int64_t>() + 1;
  return c;
}

// A token's text for display: its raw bytes, with invalid UTF-8 (a piece of a multi-byte character) replaced.
std::string piece_text(const tok::Tokenizer& tok, int32_t id) {
  return json::parse(json(tok.token_to_piece(id)).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}
}  // namespace

TokenClasses classify_tokens(const engine::RequestRecord& r) {
  const engine::SharingTrace& t = r.trace;
  const size_t n = r.prompt.size();
  TokenClasses c;
  c.prompt.assign(n, "computed");
  c.prompt_src.assign(n, -1);
  c.donor.assign(t.donor_tokens.size(), "deleted");
  c.donor_dst.assign(t.donor_tokens.size(), -1);
  if (t.runs.empty()) {  // full or prefix: the exact prefix is reused in place, the rest computed
    const size_t reused = std::min(n, static_cast<size_t>(std::max(t.exact_prefix, 0)));
    for (size_t i = 0; i < reused; ++i) {
      c.prompt[i] = "reused";
      c.prompt_src[i] = static_cast<int32_t>(i);
    }
    return c;
  }
  for (const align::EditRun& run : t.runs) {
    for (int32_t k = 0; k < run.n; ++k) {
      if (run.op == align::EditOp::kInsert) {
        KVS_CHECK(static_cast<size_t>(run.dst + k) < n);
        c.prompt[run.dst + k] = "inserted";
      } else if (run.op == align::EditOp::kKeep) {
        const int32_t d = run.dst + k, s = run.src + k;
        KVS_CHECK(static_cast<size_t>(d) < n && static_cast<size_t>(s) < c.donor.size());
        c.prompt[d] = c.donor[s] = keep_class(run.shift());
        c.prompt_src[d] = s;
        c.donor_dst[s] = d;
      }
    }
  }
  for (int32_t p : t.recomputed) {
    KVS_CHECK(p >= 0 && static_cast<size_t>(p) < n && c.prompt_src[p] >= 0);
    c.prompt[p] = c.donor[c.prompt_src[p]] = "recomputed";
  }
  return c;
}

json request_summary_json(const engine::RequestRecord& r, bool show_tenant) {
  const engine::Usage& u = r.usage;
  const engine::ShareReport& s = u.share;
  json j{{"id", r.request_id.empty() ? std::to_string(r.id) : r.request_id},
         {"finished_unix_ms", r.finished_unix_ms},
         {"finish_reason", r.finish_reason},
         {"mode", s.mode},
         {"fell_back", s.fell_back},
         {"donor_id", s.donor_id},
         {"similarity", s.similarity},
         {"edit_script", s.edit_script},
         {"prompt_tokens", static_cast<int64_t>(r.prompt.size())},
         {"reused_tokens", s.reused_tokens},
         {"recomputed_tokens", s.recomputed_tokens},
         {"completion_tokens", u.completion_tokens},
         {"ttft_ms", u.ttft_ms},
         {"total_ms", u.total_ms},
         {"deviation", s.deviation},
         {"deviation_median", s.deviation_median},
         {"repaired_after_tokens", s.repaired_after_tokens},
         {"shareable_tokens", s.shareable_tokens},
         {"donation_limit", s.donation_limit},
         {"donated_as", r.trace.donated_as}};
  if (show_tenant) j["tenant"] = r.tenant;
  return j;
}

json sharing_view_json(const engine::RequestRecord& r, const tok::Tokenizer& tok, const SharingViewOptions& opt) {
  const TokenClasses c = classify_tokens(r);
  json j = request_summary_json(r, opt.show_tenant);
  json prompt = json::array();
  for (size_t i = 0; i < r.prompt.size(); ++i) {
    json t{{"piece", piece_text(tok, r.prompt[i])}, {"cls", c.prompt[i]}};
    if (c.prompt_src[i] >= 0) {
      t["src"] = c.prompt_src[i];
      t["shift"] = static_cast<int32_t>(i) - c.prompt_src[i];
    }
    prompt.push_back(std::move(t));
  }
  json donor = json::array();
  for (size_t i = 0; i < r.trace.donor_tokens.size(); ++i) {
    json t{{"cls", c.donor[i]}};
    if (opt.show_donor_text) t["piece"] = piece_text(tok, r.trace.donor_tokens[i]);
    if (c.donor_dst[i] >= 0) {
      t["dst"] = c.donor_dst[i];
      t["shift"] = c.donor_dst[i] - static_cast<int32_t>(i);
    }
    donor.push_back(std::move(t));
  }
  json runs = json::array();
  for (const align::EditRun& run : r.trace.runs) {
    const char* op = run.op == align::EditOp::kKeep ? "keep" : run.op == align::EditOp::kInsert ? "insert" : "delete";
    runs.push_back(json{{"op", op}, {"src", run.src}, {"dst", run.dst}, {"n", run.n}, {"shift", run.shift()}});
  }
  j["prompt"] = std::move(prompt);
  j["donor"] = std::move(donor);
  j["donor_text_shown"] = opt.show_donor_text;
  j["runs"] = std::move(runs);
  j["counts"] = json{{"prompt", count_classes(c.prompt)}, {"donor", count_classes(c.donor)}};
  if (!opt.donor_request_id.empty()) j["donor_request_id"] = opt.donor_request_id;
  return j;
}

json stats_json(const engine::MetricsSnapshot& m, int64_t unix_ms) {
  return json{{"unix_ms", unix_ms},
              {"requests_total", m.requests_total},
              {"requests_finished", m.requests_finished},
              {"running", m.running},
              {"waiting", m.waiting},
              {"prompt_tokens", m.prompt_tokens},
              {"generation_tokens", m.generation_tokens},
              {"computed_prompt_tokens", m.computed_prompt_tokens},
              {"prefix_queries", m.prefix_queries},
              {"prefix_hits", m.prefix_hits},
              {"prefix_cached_tokens", m.prefix_cached_tokens},
              {"semantic_queries", m.semantic_queries},
              {"semantic_hits", m.semantic_hits},
              {"semantic_fallbacks", m.semantic_fallbacks},
              {"semantic_reused_tokens", m.semantic_reused_tokens},
              {"semantic_recomputed_tokens", m.semantic_recomputed_tokens},
              {"ttft_sum_s", m.ttft.sum},
              {"ttft_count", m.ttft.count},
              {"donors", m.donors},
              {"kv_blocks_total", m.kv_blocks_total},
              {"kv_blocks_free", m.kv_blocks_free},
              {"kv_blocks_cached", m.kv_blocks_cached},
              {"kv_block_size", m.kv_block_size}};
}

}  // namespace kvs::server
