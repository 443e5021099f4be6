// LengthView: an eval run's figures by prompt length, so that TTFT speedup and fidelity can be read against it
// (rag with --rag-passages 1-4 spans ~400-2,000 tokens in one run).
//
// Buckets are named by the nearest of 400, 800, 1,600 and 3,200 tokens on a log scale (edges at the geometric
// means: 566, 1,131, 2,263): a prompt of n tokens is in the first bucket whose upper edge is > n.
// Per bucket and mode (same requests for every mode, full first):
//   n                requests of the bucket
//   reuse_rate       sum(cached prompt tokens) / sum(prompt tokens)
//   ttft_p50         median TTFT (ms), numpy-style interpolation (runner.h percentile)
//   speedup          full's ttft_p50 in the bucket / this mode's (full: 1)
//   rouge_vs_full    mean ROUGE-L F1 against full's answers; first_token: share whose first token agrees
//   ppl_ratio        exp(mean NLL of the mode's answers - full's) over the bucket's requests (token-weighted, as
//                    the run's summary); NaN when either has no answer token
// Invariants: buckets hold every request exactly once; a bucket with no request is not listed.
#pragma once
#include <string>
#include <vector>

#include "eval/runner.h"

namespace kvs::eval {

struct LengthCell {
  std::string mode;
  int64_t n = 0;
  double reuse_rate = 0, ttft_p50 = 0, speedup = 0, rouge_vs_full = 0, first_token = 0, ppl_ratio = 0;
};

struct LengthBucket {
  int64_t nominal = 0;            // 400, 800, 1600 or 3200
  int64_t min_tokens = 0, max_tokens = 0;  // the prompts actually in it
  std::vector<LengthCell> cells;  // one per mode, in the run's order
};

// Index of the bucket a prompt of n tokens falls in (0..3).
int length_bucket_index(int64_t n);
// REQUIRES: every mode has one row per request (runner output), full first.
std::vector<LengthBucket> length_view(const EvalResult& r);
// The Markdown section ("" when every prompt is in one bucket).
std::string length_table(const EvalResult& r);

}  // namespace kvs::eval
