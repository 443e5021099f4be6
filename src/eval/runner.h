// Runner: plays one request stream (workload.h) through the engine in several sharing modes and measures
// cost and quality against the `full` run.
//
// Every mode runs on a fresh Engine (empty caches), one request at a time (the next is submitted when the
// previous one finished, so TTFT has no queueing), greedy, max_tokens each:
//   full            ShareMode::kFull, prefix cache off: the exact baseline every quality figure compares with.
//   prefix          ShareMode::kPrefix: exact prefix caching only (vLLM / SGLang style).
//   semantic        ShareMode::kAuto with semantic sharing on: what the server does (planner, guard, r default).
//   semantic-attn   semantic ranked by the attention-weighted V deviation.
//   semantic-edit   semantic + edit-aware selection (edit_window tokens after each edit, the last edit_tail).
//   semantic-repair semantic + decode-stage repair (repair_rows spare rows per step); semantic-edit-repair both.
//   semantic-gradual   semantic + gradual filtering (refine_layer, refine_widen: EngineConfig).
//   semantic-adaptive  semantic + adaptive budget (adaptive_residual: PlannerConfig).
//                   Options combine in the order -runs -frag -attn -edit -gradual -adaptive -repair|-bg (parse_modes).
//   semantic-runs   semantic + run retrieval (EngineConfig::run_retrieval = RunnerConfig::run_retrieval): a donor
//                   found by the token runs it shares with the prompt is taken without embedding it first.
//   semantic-bg     semantic + background repair (EngineConfig::background_repair_rows = 32): after each request
//                   the runner waits, untimed, until the engine has no repair pending (a service's idle time
//                   between questions), so semantically served prompts become exact donors (new content).
//   semantic-frag   semantic + fragments from several donors (EngineConfig::fragments; every other mode runs
//                   with one donor per request); semantic-frag-bg and semantic-frag-edit add background repair /
//                   edit-aware selection.
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
//
// Fidelity (after every mode ran; likelihood.h, fidelity.h). A mode's answer = its generated token ids
// (RequestOutcome::tokens, EOS not included).
//   log-likelihood  each answer teacher-forced under the exact model (f32 prefill of prompt + answer, its own KV,
//                   nothing shared): token_logprobs[j] = log p(answer[j] | prompt, answer[0..j)). Per mode
//                   mean_logprob = sum over requests of the answer log-likelihoods / sum of answer tokens (a
//                   corpus-level mean, nats/token; empty answers add nothing to either sum).
//   ppl ratio       exp(mean_nll(mode) - mean_nll(full)), mean_nll = -mean_logprob: 1.00 = the mode's answers are
//                   as likely under the exact model as full's (full's is exactly 1); n/a when either mode
//                   produced no answer token.
//   first-token KL  KL(p_full || p_mode) of the first generated token's distributions (softmax of the raw logits
//                   the engine sampled from: RequestParams::want_first_logits), per request, mean over requests;
//                   top-1 = the argmaxes agree. Full's KL against itself is exactly 0. Response-cache hits have
//                   no fresh distribution: its KL and top-1 are over its computed requests only (n_first_dist).
//   lead            leading answer positions (< max_tokens) equal to full's, an ended answer padded with an end
//                   marker (identical answers agree at every position); mean over requests, and agree@k = share
//                   of requests with lead >= k, for k in {1, 4, 16, 32, 64}, k <= max_tokens.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "engine/request.h"
#include "engine/sharing_defaults.h"
#include "eval/progress.h"
#include "eval/workload.h"
#include "model/model.h"
#include "share/embedder/embedder.h"
#include "share/planner.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace kvs::eval {

enum class ModeKind { kFull, kPrefix, kSemantic, kNaive, kResponseCache, kSweep };

struct ModeSpec {
  std::string name;          // "full", "prefix", "semantic", "semantic-attn", "naive", "response-cache", "r=15%"
  ModeKind kind = ModeKind::kFull;
  double recompute_ratio = -1;  // sweep: r in [0, 1]; else -1 (the engine's default)
  std::optional<share::DeviationScorer> deviation;  // semantic-attn: kAttnV; else the runner's default
  bool edit_aware = false;   // semantic-edit*: RunnerConfig's edit_window / edit_tail
  bool repair = false;       // semantic-*repair: decode-stage repair with RunnerConfig's repair_rows
  bool background = false;   // semantic-bg: background repair, with idle time between requests (see above)
  bool gradual = false;      // semantic-*gradual*: gradual filtering at RunnerConfig's refine_layer
  bool adaptive = false;     // semantic-*adaptive*: adaptive budget with RunnerConfig's adaptive_residual
  bool fragments = false;    // semantic-frag*: fragments from several donors (EngineConfig::fragments)
  bool runs = false;         // semantic-runs*: run retrieval before embedding (EngineConfig::run_retrieval)
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
  DType kv_dtype = DType::kF16;  // KV cache element type of every engine
  share::PlannerConfig planner;  // the server's defaults unless changed
  share::DeviationScorer deviation = share::DeviationScorer::kKv;  // default scorer (semantic, sweep)
  // semantic-edit*, semantic-*repair: the server's defaults (engine/sharing_defaults.h)
  int32_t edit_window = engine::SharingDefaults::kEditWindow, edit_tail = engine::SharingDefaults::kEditTail;
  int32_t repair_rows = engine::SharingDefaults::kRepairRows;
  int32_t refine_layer = 4;                // semantic-*gradual*: the second scoring layer
  double refine_widen = 2.0;               // ... keeping widen x k candidates from the first
  double adaptive_residual = 0.02;         // semantic-*adaptive*: the residual deviation target
  int32_t fragment_tail = engine::SharingDefaults::kFragmentTail;  // semantic-frag*: FragmentCoverOptions::tail_guard
  double run_retrieval = engine::SharingDefaults::kRunRetrieval;  // semantic-runs*: the share of the prompt kept
  std::vector<ModeSpec> modes;   // from parse_modes
  std::vector<double> sweep;     // recompute ratios for the forced-semantic sweep (empty: none)
  // The template prompts are rendered with (--chat-template); nullptr: the model's tokenizer.chat_template.
  std::shared_ptr<const tok::ChatTemplate> chat_template;
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
  // Fidelity (see "Fidelity" above).
  std::vector<float> first_logits;     // (n_vocab) while the request is scored against full's; then released
  bool first_compared = false;         // a fresh first-token distribution was compared with full's (hits: no)
  double first_kl = 0;                 // KL(p_full || p_this), nats, when first_compared
  bool first_top1_agrees = false;      // when first_compared
  std::vector<double> token_logprobs;  // (tokens) teacher-forced under the exact model
  double answer_logprob = 0;           // sum of token_logprobs
  int32_t lead = 0;                    // leading positions equal to full's (< max_tokens)
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
  // Fidelity.
  int64_t answer_tokens = 0;     // sum of answer lengths (tokens teacher-forced)
  double mean_logprob = 0;       // nats per answer token, corpus-level
  double ppl_ratio = 0;          // exp(mean_nll - full's mean_nll); NaN when n/a
  int64_t n_first_dist = 0;      // requests whose first-token distribution was compared with full's
  double first_kl = 0, first_top1 = 0;  // means over those n_first_dist requests
  double lead_mean = 0;
  std::vector<std::pair<int32_t, double>> agree_at;  // (k, share of requests with lead >= k), k <= max_tokens
};

struct ModeResult {
  ModeSpec spec;
  std::vector<RequestOutcome> rows;
  ModeSummary summary;
};

struct EvalResult {
  std::string workload;
  std::string split = "all";           // the workload's data part (workload.h: all, tune, test)
  int32_t max_tokens = 0;
  int32_t n_threads = 0;
  int64_t kv_cache_mib = 0;
  share::PlannerConfig planner;
  int32_t refine_layer = 0;            // RunnerConfig's, for the -gradual / -adaptive modes
  double refine_widen = 0, adaptive_residual = 0;
  int32_t fragment_tail = 0;           // RunnerConfig's, for the -frag modes
  double run_retrieval = 0;            // RunnerConfig's, for the -runs modes
  int64_t common_prefix_tokens = 0;
  std::vector<EvalRequest> requests;
  std::vector<int64_t> prompt_tokens;  // (requests)
  std::vector<std::vector<int32_t>> prompt_ids;  // (requests, prompt tokens) the ids every mode was given
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

  // The model the answers are teacher-forced under; it must be f32. Default (null): the engine's model, which
  // then must be f32 itself (run() fails otherwise). Not owned; must outlive run().
  void set_exact_model(const model::Model* exact) { exact_ = exact; }

  // Renders and tokenizes the prompts, runs every mode and the sweep, teacher-forces every answer, and scores them.
  Result<EvalResult> run(const std::string& workload_name, const std::vector<EvalRequest>& requests);

 private:
  Result<std::vector<std::vector<int32_t>>> tokenize_prompts(const std::vector<EvalRequest>& requests) const;
  Result<ModeResult> run_mode(const ModeSpec& spec, const std::vector<EvalRequest>& requests,
                              const std::vector<std::vector<int32_t>>& prompts);
  Result<ModeResult> run_response_cache(const ModeSpec& spec, const std::vector<EvalRequest>& requests,
                                        const std::vector<std::vector<int32_t>>& prompts);
  // Compares r's first-token logits with full's (full: keeps them) and releases them.
  Status compare_first(RequestOutcome& r, size_t i, bool is_full);
  // Fills token_logprobs / answer_logprob of every mode's and the sweep's rows.
  Status score_likelihoods(EvalResult& out);

  const model::Model& model_;
  const model::Model* exact_ = nullptr;
  const tok::Tokenizer& tok_;
  const share::Embedder* embedder_;
  RunnerConfig cfg_;
  Progress* progress_;
  int64_t common_prefix_ = 0;
  std::vector<std::vector<float>> full_first_;  // (requests, n_vocab) full's first-token logits, while modes run
};

// Fills the quality fields of `m` against `full` (same requests, same order) and the requests' references,
// and computes its summary. common_prefix: see "hit" above. max_tokens caps the lead and the agree@k list.
// The fidelity figures use the rows' token_logprobs and first_* fields as filled by the runner.
void score_mode(ModeResult& m, const ModeResult& full, const std::vector<EvalRequest>& requests, int64_t common_prefix,
                int32_t max_tokens = 64);

}  // namespace kvs::eval
