// Sequence: the engine thread's state of one request (never touched by other threads).
//   tokens[0, n_prompt) is the prompt, the rest was generated; slots [0, n_computed) hold valid K/V.
//   Rows still to compute: tokens[n_computed, tokens.size()); when that range is empty after a forward, the last
//   row's logits give the next token (so decode is just "one row left"). Preemption releases the blocks and
//   sets n_computed = 0: the tokens are recomputed later, the output stream continues where it was.
//   While a semantic admission blends (blend != null), its rows come from the Blend (scoring chunks, then the
//   selected rows) and n_computed stays at the exact prefix until the blend is done; then n_computed = n_prompt.
//   usage.share / cached_tokens describe the admission that computed the prompt (rewritten by every admission).
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/donation_policy.h"
#include "engine/request.h"
#include "engine/request_log.h"
#include "engine/sampler.h"
#include "engine/text_stream.h"
#include "kv/block_table.h"

namespace kvs::engine {
class Blend;
struct DonorChoice;
}  // namespace kvs::engine

namespace kvs::engine {

struct Sequence {
  Sequence(std::shared_ptr<RequestHandle> h, RequestParams p);
  ~Sequence();

  std::shared_ptr<RequestHandle> handle;
  RequestParams params;
  std::vector<int32_t> tokens;
  int64_t n_prompt = 0;
  int64_t n_computed = 0;
  kv::BlockTable table;
  Sampler sampler;
  Utf8Assembler utf8;
  StopMatcher stops;
  Usage usage;
  SharingTrace trace;  // per token: what the admission that computed the prompt reused (the request log)
  bool admitted_once = false;
  bool scheduled_once = false;
  bool stops_hit = false;  // a stop string matched (its text is withheld)
  bool done = false;
  bool approximate = false;  // prompt KV partly reused from a donor: never published, never a donor
  bool donated = false;      // registered as a donor
  DonationLimit donation;    // what of it may be shared (published, donated); set at submit
  std::chrono::steady_clock::time_point last_token_at;
  int64_t predicted_rows = 0;  // prompt rows predicted to compute (cache-aware admission), set while waiting
  std::unique_ptr<DonorChoice> donor;  // donor found while waiting, for admission (null: none)
  uint64_t donor_generation = 0;       // the donor store's generation when `donor` was found
  bool donor_searched = false;
  std::optional<std::chrono::steady_clock::time_point> fifo_head_since;  // oldest waiting since (age cap)
  std::unique_ptr<Blend> blend;        // semantic admission in progress
  // Decode-stage repair: slots [repair_from, repair_pos) were recomputed exactly, in position order; the rest of
  // [repair_from, n_computed) still holds KV computed over reused (approximate) KV. -1: not repairing.
  int64_t repair_pos = -1;
  int64_t approx_from = -1;       // first slot computed over reused KV (semantic admissions; -1: exact)
  bool contains_donor = false;    // the edit script kept every token of the donor, in order (no deletions)
  bool background = false;        // finished; blocks kept for background repair (Engine::background_)
  uint64_t promoted_donor = 0;    // RAM donor id this request's search promoted from disk (0: none)
  int64_t promoted_blocks = 0;    // blocks read back from a tier (disk or Redis) while preparing this request
  int64_t redis_blocks = 0;       // ... of them, from the Redis tier
  std::string remote_decision;    // Redis fetch vs recompute, when priced: "fetch" / "recompute" ("" when not)
  double remote_fetch_s = 0, remote_recompute_s = 0;  // the cost model's two predictions (engine_tiers.cpp)
  // params.prompt_logprobs: prompt_lp[p] scores tokens[p + 1] from row p's logits; rows are computed in order
  // from 0 (full compute), so its size is min(rows computed so far, n_prompt - 1) (a preempted sequence keeps it).
  std::vector<TokenLogprob> prompt_lp;
  bool prompt_lp_sent = false;

  // Row p needs its logits: the last row (sampling) or an unscored prompt row.
  bool wants_logits(int64_t p) const {
    return p + 1 == static_cast<int64_t>(tokens.size()) ||
           (params.prompt_logprobs && p + 1 < n_prompt && p >= static_cast<int64_t>(prompt_lp.size()));
  }

  int64_t n_generated() const { return static_cast<int64_t>(tokens.size()) - n_prompt; }
  // Rows still to compute: the blend's while blending, else tokens[n_computed, size).
  int64_t pending_rows() const;
  // Compute of the next `take` rows in row-layers (an ordinary row costs n_layer; blend rows less), and the most
  // rows (<= max_rows) that fit in `units`. The scheduler's budget is max_batch_tokens full rows of row-layers.
  int64_t row_cost(int64_t take, int32_t n_layer) const;
  int64_t rows_within(int64_t units, int64_t max_rows, int32_t n_layer) const;
  // Rows computed over approximate KV that decode-stage repair has yet to recompute (0 when exact).
  int64_t repair_backlog() const { return repair_pos < 0 || blend ? 0 : n_computed - repair_pos; }
};

}  // namespace kvs::engine
