// Runner: plays one request stream (workload.h) through the engine in several sharing modes and measures
// cost and quality against the `full` run.
//
// Every mode runs on a fresh Engine (empty caches), one request at a time (the next is submitted when the
// previous one finished, so TTFT has no queueing), greedy, max_tokens each:
//   full            ShareMode::kFull, prefix cache off: the exact baseline every quality figure compares with.
//   prefix          ShareMode::kPrefix: exact prefix caching only (vLLM / SGLang style).
//   semantic        ShareMode::kAuto with semantic sharing on: what the server does (planner, guard, r default).
//   naive           ShareMode::kNaive: a similar donor's KV reused with no recompute beyond inserted tokens and
//                   the last one (no CacheBlend selection, no guard): the strawman.
//   response-cache  GPTCache-like: embed the user message; if an earlier *computed* request's embedding has
//                   cosine >= planner.similarity_threshold, return that request's answer as this one's (TTFT =
//                   embedding + lookup); else compute it as `full` and remember it.
//   sweep r         ShareMode::kSemantic (semantic reuse forced: no cost model, no guard) with recompute ratio r;
//                   one run per r.
// Forced modes (naive, sweep) are gated on similarity: the engine's forced modes take the best donor whatever
// its similarity, and a request served from a donor never donates, so ungated the stream's first request would
// end up the donor of every later one (unrelated passages included). The runner therefore forces reuse only when
// an earlier request that became a donor (served by full or prefix prefill) has embedding cosine >=
// planner.similarity_threshold; otherwise the request runs as kAuto, which finds no donor that similar and so
// prefills normally and donates (the gate embeds on the calling thread, untimed; the engine embeds again).
// Modes that share semantically pass share_text and let the engine embed it at admission on its own pool, so
// TTFT includes the embedding as in the server. The response cache embeds on a pool of the same size.
// Each mode's engine is fresh, so its donors are the stream's own earlier requests.
//
// Definitions (per mode; sums over the stream):
//   TTFT            from just before Engine::submit to the first token (semantic modes: includes the engine's
//                   embedding of share_text at admission); response-cache hit: embedding + lookup.
//   hit             reused more prompt tokens than `common_prefix_tokens` (the prefix every prompt of the
//                   stream shares: chat template + system prompt); response-cache: answered from the cache.
//   reuse rate      sum(reused prompt tokens) / sum(prompt tokens); response-cache hits count their whole prompt.
//   prefill saved   1 - sum(computed prompt tokens) / sum(prompt tokens) (computed = through every layer; the
//                   semantic path's first-layer scoring pass is not counted).
//   quality vs full ROUGE-L F1 (mean over requests), corpus BLEU (13a), first-token agreement (same first
//                   sampled token id, EOS included), exact match (same text).
//   ROUGE-L vs ref  mean ROUGE-L F1 against the MedQuAD answer, over requests that have one.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/request.h"
#include "eval/progress.h"
#include "eval/workload.h"
#include "model/model.h"
#include "share/embedder/embedder.h"
#include "share/planner.h"
#include "tokenizer/tokenizer.h"

namespace kvs::eval {

enum class ModeKind { kFull, kPrefix, kSemantic, kNaive, kResponseCache, kSweep };

struct ModeSpec {
  std::string name;          // "full", "prefix", "semantic", "semantic-attn", "naive", "response-cache", "r=15%"
  ModeKind kind = ModeKind::kFull;
  double recompute_ratio = -1;  // sweep: r in [0, 1]; else -1 (the engine's default)
  std::optional<share::DeviationScorer> deviation;  // semantic-attn: kAttnV; else the runner's default
};

// "full,prefix,..." -> specs in the given order, `full` first (added when missing). InvalidArgument for an
// unknown or repeated name.
Result<std::vector<ModeSpec>> parse_modes(const std::string& list);
// "0,5,10" (percent) -> ratios; InvalidArgument outside [0, 100].
Result<std::vector<double>> parse_sweep(const std::string& list);
bool mode_needs_embedder(ModeKind k);

struct RunnerConfig {
  int32_t max_tokens = 48;
  int32_t n_threads = 0;         // 0: all cores
  int64_t kv_cache_mib = 1024;
  share::PlannerConfig planner;  // the server's defaults unless changed
  share::DeviationScorer deviation = share::DeviationScorer::kKv;  // default scorer (semantic, sweep)
  std::vector<ModeSpec> modes;   // from parse_modes
  std::vector<double> sweep;     // recompute ratios for the forced-semantic sweep (empty: none)
};

struct RequestOutcome {
  int index = 0;
  std::string text;
  std::vector<int32_t> tokens;   // generated token ids, as streamed
  int32_t first_token = -1;      // first sampled token id; -1 when it was end-of-generation (no output)
  std::string finish_reason;
  engine::Usage usage;
  double ttft_ms = 0;
  bool hit = false;
  bool cache_hit = false;        // response-cache: answered from the cache
  int cache_source = -1;         // response-cache: the request whose answer was returned
  double cache_similarity = 0;   // response-cache: best cosine among earlier computed requests
  // Quality, filled once the `full` run is known.
  double rouge_vs_full = 0, bleu_vs_full = 0, rouge_vs_ref = 0;
  bool first_token_agrees = false, exact_match = false;
};

struct ModeSummary {
  int64_t n = 0;
  double hit_rate = 0, semantic_rate = 0, reuse_rate = 0, prefill_saved = 0;
  int64_t fallbacks = 0;         // semantic plans the guard turned into full prefill
  int64_t prompt_tokens = 0, reused_tokens = 0, computed_tokens = 0;
  double ttft_p50 = 0, ttft_p90 = 0, ttft_mean = 0;
  double rouge_vs_full = 0, bleu_vs_full = 0, first_token_agreement = 0, exact_match_rate = 0;
  double rouge_vs_ref = 0;
  double miss_agreement = -1;    // response-cache: share of computed answers equal to full's (determinism); -1 n/a
  double wall_s = 0;
};

struct ModeResult {
  ModeSpec spec;
  std::vector<RequestOutcome> rows;
  ModeSummary summary;
};

struct EvalResult {
  std::string workload;
  int32_t max_tokens = 0;
  int32_t n_threads = 0;
  int64_t kv_cache_mib = 0;
  share::PlannerConfig planner;
  int64_t common_prefix_tokens = 0;
  std::vector<EvalRequest> requests;
  std::vector<int64_t> prompt_tokens;  // (requests)
  std::vector<ModeResult> modes;       // full first
  std::vector<ModeResult> sweep;
};

// Linear-interpolated percentile (numpy's default), q in [0, 1]; 0 for an empty list.
double percentile(std::vector<double> v, double q);

class Runner {
 public:
  // embedder may be null when no mode needs it; load it with EmbedderOptions::n_threads = 1 (no pool of its own:
  // the engine and the response cache pass theirs). progress may be null.
  Runner(const model::Model& model, const tok::Tokenizer& tokenizer, const share::Embedder* embedder,
         RunnerConfig cfg, Progress* progress = nullptr);

  // Renders and tokenizes the prompts, runs every mode and the sweep, and scores them.
  Result<EvalResult> run(const std::string& workload_name, const std::vector<EvalRequest>& requests);

 private:
  Result<std::vector<std::vector<int32_t>>> tokenize_prompts(const std::vector<EvalRequest>& requests) const;
  Result<ModeResult> run_mode(const ModeSpec& spec, const std::vector<EvalRequest>& requests,
                              const std::vector<std::vector<int32_t>>& prompts) const;
  Result<ModeResult> run_response_cache(const ModeSpec& spec, const std::vector<EvalRequest>& requests,
                                        const std::vector<std::vector<int32_t>>& prompts) const;

  const model::Model& model_;
  const tok::Tokenizer& tok_;
  const share::Embedder* embedder_;
  RunnerConfig cfg_;
  Progress* progress_;
  int64_t common_prefix_ = 0;
};

// Fills the quality fields of `m` against `full` (same requests, same order) and the requests' references,
// and computes its summary. common_prefix: see "hit" above.
void score_mode(ModeResult& m, const ModeResult& full, const std::vector<EvalRequest>& requests, int64_t common_prefix);

}  // namespace kvs::eval
