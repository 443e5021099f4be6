// A request as the engine sees it, and the handle its submitter reads results from.
// RequestHandle is the only object shared between the engine thread and a client thread: its event queue and
// cancel flag are synchronised; everything else about a request lives on the engine thread (Sequence).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/logprobs.h"
#include "engine/sampler.h"
#include "share/deviation_select.h"

namespace kvs::engine {

// How a request may obtain its prompt KV. kAuto: the planner picks the cheapest of full / exact prefix /
// semantic reuse (with selective recompute and the quality guard). The others force one mode (evaluation).
enum class ShareMode : uint8_t { kAuto, kFull, kPrefix, kSemantic, kNaive };
const char* share_mode_name(ShareMode m);
bool parse_share_mode(const std::string& s, ShareMode* out);

struct RequestParams {
  std::vector<int32_t> prompt;     // token ids (chat template already applied)
  SamplingParams sampling;
  int32_t max_tokens = 256;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  uint64_t domain = 0;             // share domain: salts every cache key (set by the server, never the client)
  std::string tenant;              // for logs and metrics
  std::string request_id;          // the API's response id (logs, the request log); may be empty
  ShareMode share_mode = ShareMode::kAuto;
  std::string share_text;          // text whose embedding finds donors (empty: no semantic sharing)
  std::vector<float> embedding;    // of share_text; computed by the engine at admission when empty
  double recompute_ratio = -1;     // per-request r in [0, 1]; < 0: the server's default
  std::optional<share::DeviationScorer> deviation;  // per-request scorer; nullopt: the server's default
  int32_t edit_window = -1, edit_tail = -1;  // edit-aware selection per request (< 0: the server's default)
  bool want_first_logits = false;  // the first token's event carries the raw logits it was sampled from (eval)
  // Scoring (engine/logprobs.h: log-softmax of the raw logits). logprobs >= 0: every generated token's event
  // carries its log-probability and this many top alternatives. prompt_logprobs: the prompt tokens' too (echo);
  // it needs every prompt row's logits, so it forces full computation (no prefix or semantic reuse: a shared
  // prompt's rows are never computed, so their logits do not exist).
  int32_t logprobs = -1;
  bool prompt_logprobs = false;
  // Donation policy (engine/donation_policy.h): whether this prompt's KV may be shared with other users of its
  // domain at all (the tenant's setting AND the request's), and whether the sensitive-span screen limits it.
  bool donate = true;
  bool screen_sensitive = true;
  size_t screen_from_byte = 0;     // the screen skips spans starting before this byte of the decoded prompt
};

// One donor a semantic admission read from, and the runs it lent (donor [src, src+n) -> prompt [dst, dst+n)).
struct ShareDonorUse {
  struct Run {
    int32_t src = 0, dst = 0, n = 0;
  };
  int64_t donor_id = -1;
  int64_t tokens = 0;  // sum of the runs' n (copied slots, some of them recomputed afterwards)
  std::vector<Run> runs;
};

// What the sharing layer did for one request (OpenAI response extension "kvshare", and the eval).
struct ShareReport {
  std::string mode = "full";       // "full", "prefix", "semantic"
  bool fell_back = false;          // semantic plan turned into full prefill by the quality guard
  int64_t donor_id = -1;
  double similarity = 0;           // of the embeddings (0 when the donor was found by shared runs)
  std::string retrieval;           // semantic: how the own donor was found, "embedding" or "runs" (run
                                   // retrieval); "fragments" when the plan has fragment runs and no own donor
  std::string edit_script;         // e.g. "K12 D3 I5 K40(+2)"
  std::vector<ShareDonorUse> donors;  // semantic: every donor used (the embedding donor first), with its runs
  int64_t reused_tokens = 0;       // prompt tokens whose KV came from a cache
  int64_t recomputed_tokens = 0;   // prompt tokens computed through every layer
  int64_t total_tokens = 0;
  double deviation_median = 0;     // of the scored candidates (semantic)
  double deviation_left = 0;       // mean deviation the reused KV keeps: sum over candidates not recomputed / all
  std::string deviation;           // scorer that ranked them: "kv" or "attn-v" (semantic; naive: empty)
  int64_t repaired_after_tokens = -1;  // decode-stage repair made the KV exact after this many tokens (-1: never)
  int64_t shareable_tokens = -1;   // donation policy: leading prompt tokens others may reuse (-1: all of them)
  std::string donation_limit;      // why fewer: "opt-out" or the first sensitive span's kind ("" when all)
  std::string tier;                // where the reused blocks came from: "ram", "disk", "redis" ("" when none reused)
  int64_t disk_blocks = 0;         // reused blocks read back from a tier (disk or Redis) for this request
  int64_t redis_blocks = 0;        // ... of them, fetched from the Redis tier
  std::string remote_decision;     // Redis blocks were priced: "fetch" or "recompute" ("" when not priced)
  double remote_fetch_s = 0, remote_recompute_s = 0;  // the predictions the decision compared
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;       // prompt tokens whose KV was reused, not computed
  int64_t computed_prompt_tokens = 0;
  int64_t repair_rows = 0;         // rows decode-stage repair recomputed after the first token (extra compute)
  double queue_ms = 0;             // submit -> first scheduled
  double embed_ms = 0;             // embedding the share text before the first token (0: not embedded then, e.g.
                                   // a donor found by shared runs; the donation's embedding comes later)
  double ttft_ms = 0;              // submit -> first token
  double total_ms = 0;
  int32_t preemptions = 0;
  ShareReport share;
};

struct StreamEvent {
  std::string text;                // new text (UTF-8 complete, stop strings held back)
  std::vector<int32_t> tokens;     // token ids behind this text
  std::vector<float> logits;       // (n_vocab) raw logits of the first token, when want_first_logits
  std::vector<TokenLogprob> logprobs;         // (tokens.size()) when params.logprobs >= 0
  std::vector<TokenLogprob> prompt_logprobs;  // (n_prompt - 1) of prompt tokens 1.., once, on the first event
  bool finished = false;
  std::string finish_reason;       // "stop", "length", "cancelled", "error"
  Usage usage;                     // final on the finished event
  Status error;                    // non-ok when finish_reason == "error"
};

class RequestHandle {
 public:
  explicit RequestHandle(uint64_t id) : id_(id), created_(std::chrono::steady_clock::now()) {}
  uint64_t id() const { return id_; }
  std::chrono::steady_clock::time_point created() const { return created_; }

  // Client side: blocks until an event is available or the timeout passes (nullopt).
  std::optional<StreamEvent> next(std::chrono::milliseconds timeout);
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

  // Engine side.
  void push(StreamEvent ev);

 private:
  const uint64_t id_;
  const std::chrono::steady_clock::time_point created_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;  // GUARDED_BY(mu_)
};

}  // namespace kvs::engine
