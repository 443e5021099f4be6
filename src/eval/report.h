// Report: writes an EvalResult (runner.h) as
//   OUT/eval_<workload>.json        every mode's summary and per-request rows (answer token ids and their
//                                   teacher-forced log-probabilities), the sweep, the requests (prompt token
//                                   ids), the split, settings
//   OUT/eval_<workload>.md          Markdown tables: modes, recompute-ratio sweep, fidelity to full (also
//                                   printed by the CLI)
//   OUT/eval_<workload>_ttft.png    TTFT p50 / p90 per mode                     (gnuplot, when installed)
//   OUT/eval_<workload>_sweep.png   ROUGE-L / first-token agreement vs r, TTFT p50 vs r
//   OUT/eval_<workload>_pareto.png  ROUGE-L vs full against TTFT p50 and reuse rate, one point per mode and r
//   OUT/eval_<workload>_length.png  speedup and ROUGE-L vs prompt length (when prompts span length buckets)
// Plots are drawn by piping a script to `gnuplot` (pngcairo terminal, else png); when gnuplot is not on PATH
// they are skipped with a warning (not an error).
//
// Invariants: the JSON's figures are the summaries' values unrounded; the Markdown rounds for reading only.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "eval/runner.h"

namespace kvs::eval {

struct ReportFiles {
  std::string json, markdown;
  std::vector<std::string> plots;
  std::string plot_warning;  // why plots were skipped, "" when drawn
};

nlohmann::json result_json(const EvalResult& r, const nlohmann::json& meta);
std::string markdown_report(const EvalResult& r, const nlohmann::json& meta);

// Creates out_dir when missing. meta: free-form settings to record (model, embedder paths, data file, ...).
Result<ReportFiles> write_report(const EvalResult& r, const nlohmann::json& meta, const std::string& out_dir);

// The absolute path of `name` on PATH, or "" (exposed for tests).
std::string find_on_path(const std::string& name);

}  // namespace kvs::eval
