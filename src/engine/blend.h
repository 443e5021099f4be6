// Blend: the selective recompute of one semantic admission (CacheBlend), as rows the scheduler runs in ordinary
// steps beside every other sequence's prefill and decode rows, chunked by the step's token budget.
//
//   kScore     rows [first, n) in position order, in chunks; each goes through layers 0..L (L = blend_layer) and
//              stops there (model::SeqHook drops it), so every slot's K/V at layers 0..L is exact afterwards. At
//              layer L the hook scores each deviation candidate in the chunk: its fresh K/V against the reused
//              (donor) K/V still in the cache. With the last chunk every candidate is scored: the planner's guard
//              may fall back (every row recomputed: exact), else the top-r candidates join the recompute set.
//   kRefine    gradual filtering only (BlendOptions::refine_layer = R > L): selection at L kept the top
//              ceil(widen * k) candidates instead of k; these rows and the initial set run layers 0..R, in chunks,
//              and stop there (the hook drops them after scoring each pre-selected candidate's fresh K/V at R
//              against the reused K/V): the top k by that score are the selection (CacheBlend's progressive
//              filtering: a later layer's deviation is the better predictor, measured on fewer rows).
//   kSelected  the selected rows (inserted, last, top-r; or all after a fall-back), in position order, in
//              chunks, through every layer (no hook). The last one, n - 1, gives the first token's logits.
//   kDone
//
// One-chunk path: when the first scoring chunk holds every row [first, n) (the common case: the prompt fits in
// one step), selection happens inside that forward and the hook keeps the selected rows past layer L, so kScore
// goes straight to kDone. Both paths give the same K/V and logits: a selected row computes layers 0..L from the
// same exact inputs again, and at layers > L it attends over the fresh K/V of the selected rows before it and the
// reused K/V of the others, in both. With gradual filtering the one-chunk hook keeps the pre-selected rows past L
// and drops the filtered-out ones at R; the chunked path runs them through kRefine to R: either way layers (L, R]
// hold fresh K/V for the pre-selected rows, layers > R only for the selected ones.
//
// A step whose forward failed may be rerun (next_rows with the same take, then the same hook calls): scoring and
// selection are idempotent until commit().
//
// Invariants: rows are handed out in position order and never twice per phase; pending_rows() counts the rows
// still to run in this phase and the next (kScore: n - scored_end + nothing yet known of kSelected, which is
// counted once selection happened); every row of a step is charged to the budget before it runs.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kv/block_table.h"
#include "kv/kv_storage.h"
#include "model/seq_hook.h"
#include "share/deviation_score.h"
#include "share/planner.h"

namespace kvs::engine {

struct BlendOptions {
  int32_t n_layer = 1;                     // the model's layers (prices rows in row-layers)
  int32_t blend_layer = 1;                 // REQUIRES: 0 <= blend_layer < n_layer
  share::DeviationScorer scorer = share::DeviationScorer::kKv;
  bool naive = false;                      // no scoring: only the initial recompute set (inserted + last)
  share::PlannerConfig planner;
  std::optional<double> recompute_ratio;   // per-request r
  share::HeadShape heads;
  int32_t refine_layer = 0;                // gradual filtering: 0 = off, else blend_layer < refine_layer < n_layer
  double refine_widen = 2.0;               // pre-selected candidates at blend_layer, as a multiple of k (>= 1)
};

class Blend final : public model::SeqHook {
 public:
  enum class Phase : uint8_t { kScore, kRefine, kSelected, kDone };

  // plan: semantic, with its initial recompute set; first: the first row past the exact prefix (build_kv).
  // kv / table: the sequence's KV (read at the blend layer for the reused values). They must outlive the Blend.
  Blend(share::ReusePlan plan, int32_t first, const BlendOptions& opt, const kv::KvStorage& kv,
        const kv::BlockTable& table);

  Phase phase() const { return phase_; }
  bool done() const { return phase_ == Phase::kDone; }
  int64_t pending_rows() const;
  // Compute of the next `take` rows in row-layers (a full row = n_layer): a scoring row runs layers 0..L only;
  // the one-chunk path also runs the rows it is expected to select (initial set + top r) through the rest.
  int64_t cost(int64_t take) const;
  // The most rows (<= max_rows, <= pending_rows()) whose cost fits in `units`; 0 when none does. When the whole
  // blend fits one chunk except for its expected selection, the last row is left for the next step (two-phase).
  int64_t rows_within(int64_t units, int64_t max_rows) const;
  // The next `take` rows (1 <= take <= pending_rows()): their positions and logits flags. The rows of one step.
  void next_rows(int64_t take, std::vector<int32_t>& pos, std::vector<uint8_t>& out);
  // The hook for this step's rows (null: none needed).
  model::SeqHook* hook() { return phase_ == Phase::kScore || phase_ == Phase::kRefine ? this : nullptr; }
  // After the step's forward ran the rows of next_rows().
  void commit();

  // After done(): what happened.
  bool fell_back() const { return fell_back_; }
  int64_t recomputed_rows() const;  // prompt rows computed through every layer
  int32_t first() const { return first_; }
  int32_t n_prompt() const { return plan_.n_prompt; }
  const share::ReusePlan& plan() const { return plan_; }
  std::span<const float> scores() const { return scores_; }  // per deviation candidate (0 for exact ones)
  std::span<const int32_t> candidates() const { return candidates_; }  // their positions, ascending

  std::optional<std::vector<int32_t>> on_layer_kv(int layer, std::span<const int32_t> pos, const float* q,
                                                  const float* k, const float* v) override;

 private:
  void score_chunk(std::span<const int32_t> pos, const float* q, const float* k, const float* v);
  void select(std::span<const int32_t> pos, const float* k);
  void score_refine(std::span<const int32_t> pos, const float* k, const float* v);
  void finish_refine();
  bool refining() const { return opt_.refine_layer > 0 && pre_.size() > static_cast<size_t>(k_final_); }
  int64_t phase_cost_layers() const;  // layers a row of this phase runs (kScore: L + 1, kRefine: R + 1, else all)
  std::vector<float> attn_v_rank(std::span<const int32_t> pos, const float* k) const;
  // out (n_kv_head, head_dim) = the cached K / V of slot p at `layer`, as floats (whatever the storage type).
  void slot_k(int layer, int32_t p, float* out) const;
  void slot_v(int layer, int32_t p, float* out) const;

  const share::ReusePlan initial_;     // the plan as admitted (selection restarts from it: reruns are idempotent)
  share::ReusePlan plan_;              // after selection: with the selected rows, or the full plan of a fall-back
  const int32_t first_;
  const BlendOptions opt_;
  const kv::KvStorage& kv_;
  const kv::BlockTable& table_;
  Phase phase_ = Phase::kScore;
  bool fell_back_ = false;
  bool one_chunk_ = false;             // this step's chunk is every row [first, n)
  int32_t scored_end_;                 // kScore: rows [first, scored_end) went through layers 0..L
  int64_t chunk_ = 0;                  // rows handed out by next_rows() for this step
  std::vector<int32_t> candidates_;    // plan's deviation candidates, ascending
  std::vector<float> scores_;          // (candidates) relative K/V deviation
  std::vector<float> dv_;              // (candidates, n_head_kv) ||v_fresh - v_reused|| (kAttnV)
  std::vector<int32_t> q_pos_;         // kAttnV: positions of the last recomputed rows, ascending (<= 64)
  std::vector<float> q_rows_;          // (q_pos, n_head * head_dim) their queries at the blend layer
  std::vector<int32_t> pre_;           // gradual: candidates pre-selected at L (ascending), filtered at R
  int64_t k_final_ = 0;                // gradual: how many of pre_ the selection keeps
  std::vector<float> refine_scores_;   // (pre_) relative K/V deviation at R
  std::vector<int32_t> refine_rows_;   // kRefine: initial rows >= first and pre_, ascending
  size_t refine_done_ = 0;
  int64_t expected_extra_ = 0;         // gradual: pre-selected rows beyond k (estimated), running layers (L, R]
  std::vector<int32_t> selected_;      // kSelected: rows to compute through every layer, ascending
  size_t selected_done_ = 0;
  int64_t expected_selected_ = 0;      // rows the one-chunk path keeps past layer L (before scoring: estimated)
};

}  // namespace kvs::engine
