// The dashboard's JSON documents built from the engine's request log (engine/request_log.h) and metrics: what
// /dashboard/api/requests, /dashboard/api/requests/<id> and /dashboard/api/stats return. Pure functions.
//
// Token classes of the sharing view (one per prompt token, one per donor token):
//   prompt: "reused"      KV taken in place (a KEEP run with shift 0: the exact prefix or an unmoved run)
//           "moved"       KV taken from the donor at another position (KEEP, shift != 0; re-rotated)
//           "inserted"    not in the donor: computed (INSERT run)
//           "recomputed"  reused, then recomputed through every layer by selection (deviation, edit-aware,
//                         the last token; every reused token after the quality guard fell back)
//           "computed"    no cache was used for it (full prefill, or past the exact prefix of a prefix hit)
//   donor:  "reused" / "moved" / "recomputed" as the prompt token it became, "deleted" (DELETE run)
// Invariants: prompt[i].cls is exactly one class; the counts add up to the prompt (and donor) length; the donor's
// pieces are only present when show_donor_text is true (another tenant's prompt is never shown: the caller decides).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/metrics.h"
#include "engine/request_log.h"
#include "tokenizer/tokenizer.h"

namespace kvs::server {

struct TokenClasses {
  std::vector<std::string> prompt;  // (n_prompt) class of each prompt token
  std::vector<int32_t> prompt_src;  // (n_prompt) donor position it came from, -1 when none
  std::vector<std::string> donor;   // (donor_len) class of each donor token
  std::vector<int32_t> donor_dst;   // (donor_len) prompt position it went to, -1 when deleted
};

// Classifies every token of a record (see the classes above). REQUIRES: the record's invariants (request_log.h).
TokenClasses classify_tokens(const engine::RequestRecord& r);

// One row of the recent-requests table: ids, mode, token counts, edit script, TTFT; "tenant" only if show_tenant.
nlohmann::json request_summary_json(const engine::RequestRecord& r, bool show_tenant);

struct SharingViewOptions {
  bool show_tenant = false;
  bool show_donor_text = false;   // the donor's token pieces (else only their classes)
  std::string donor_request_id;   // the donor's API id when the log still has it and the viewer may see it
};

// The sharing view of one request: the summary plus "prompt" and "donor" token lists ({piece, cls, src|dst,
// shift}), the edit script's "runs" and per-class "counts".
nlohmann::json sharing_view_json(const engine::RequestRecord& r, const tok::Tokenizer& tok,
                                 const SharingViewOptions& opt);

// Aggregate counters for the charts (the client takes differences between polls): throughput, TTFT, hit and reuse
// rates per mode, KV usage.
nlohmann::json stats_json(const engine::MetricsSnapshot& m, int64_t unix_ms);

}  // namespace kvs::server
