// The sharing configuration `kvshare serve` runs unless told otherwise, in one place so that the server and
// `kvshare eval` cannot drift apart: the eval's `semantic-runs-attn-edit-repair` mode runs exactly these settings
// (eval::RunnerConfig takes its edit-aware and repair values from here).
//
// Chosen on the tune split of both workloads (docs/eval/methods_tune/combined_2026-12-02.md), reported on the
// disjoint test split (docs/semantic_sharing.md): reused tokens ranked by the attention the recomputed rows put
// on them times their V error (attn-v), the first edit_window reused tokens after each edit and the last
// edit_tail prompt tokens always recomputed (edit-aware), and up to repair_rows spare rows per decode step that
// make the sequence's KV exact within a few steps (decode-stage repair). Run retrieval (a donor found by the
// token runs it shares with the prompt is taken without embedding the prompt first) changes no answer on the tune
// split's rag stream, only when the embedding runs (docs/semantic_sharing.md). The engine's and planner's own struct
// defaults stay "off" (plain CacheBlend) so that every mechanism can be tested and measured alone.
#pragma once

#include <cstdint>

#include "share/deviation_select.h"

namespace kvs::engine {

struct SharingDefaults {
  static constexpr share::DeviationScorer kDeviation = share::DeviationScorer::kAttnV;
  static constexpr int32_t kEditWindow = 2;
  static constexpr int32_t kEditTail = 6;
  static constexpr int32_t kRepairRows = 64;
  // With fragments on (--fragments): how far back the prompt's final gap is kept from fragments (tail_guard),
  // chosen on the growing workload's tune split (docs/eval/growing_tail_tune_n60.md).
  static constexpr int32_t kFragmentTail = 512;
  // Run retrieval (EngineConfig::run_retrieval): a donor found by shared token runs is taken without embedding
  // the prompt when its alignment keeps at least this share of the prompt. Chosen on the tune split: above 0.62
  // every run-retrieved answer equals the embedding path's on rag and growing; below, half-repeated prompts
  // (an earlier prompt plus a new passage) take donors the embedding's threshold turns away, and lose fidelity
  // (docs/eval/growing_runs_tune_n60.md).
  static constexpr double kRunRetrieval = 0.7;
};

}  // namespace kvs::engine
