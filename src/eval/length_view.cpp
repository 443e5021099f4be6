#include "eval/length_view.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "base/status.h"

namespace kvs::eval {
namespace {

constexpr std::array<int64_t, 4> kNominal = {400, 800, 1600, 3200};
constexpr std::array<double, 3> kUpper = {565.685, 1131.371, 2262.742};  // geometric means of neighbours

std::string f(const char* spec, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

// Token-weighted mean NLL of the rows at `idx` (NaN without answer tokens).
double mean_nll(const std::vector<RequestOutcome>& rows, const std::vector<size_t>& idx) {
  double sum = 0;
  int64_t n = 0;
  for (size_t i : idx) {
    sum += rows[i].answer_logprob;
    n += static_cast<int64_t>(rows[i].token_logprobs.size());
  }
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : -sum / static_cast<double>(n);
}

LengthCell cell(const ModeResult& m, const std::vector<size_t>& idx, const EvalResult& r, double full_p50,
                double full_nll) {
  LengthCell c;
  c.mode = m.spec.name;
  c.n = static_cast<int64_t>(idx.size());
  int64_t prompt = 0, cached = 0;
  std::vector<double> ttft;
  for (size_t i : idx) {
    const RequestOutcome& o = m.rows[i];
    prompt += r.prompt_tokens[i];
    cached += o.usage.cached_tokens;
    ttft.push_back(o.ttft_ms);
    c.rouge_vs_full += o.rouge_vs_full;
    c.first_token += o.first_token_agrees ? 1.0 : 0.0;
  }
  c.reuse_rate = prompt ? static_cast<double>(cached) / static_cast<double>(prompt) : 0.0;
  c.ttft_p50 = percentile(ttft, 0.5);
  c.speedup = c.ttft_p50 > 0 ? full_p50 / c.ttft_p50 : 0.0;
  c.rouge_vs_full /= static_cast<double>(idx.size());
  c.first_token /= static_cast<double>(idx.size());
  const double nll = mean_nll(m.rows, idx);
  c.ppl_ratio = std::isnan(nll) || std::isnan(full_nll) ? std::numeric_limits<double>::quiet_NaN()
                                                         : std::exp(nll - full_nll);
  return c;
}

}  // namespace

int length_bucket_index(int64_t n) {
  for (size_t b = 0; b < kUpper.size(); ++b)
    if (static_cast<double>(n) < kUpper[b]) return static_cast<int>(b);
  return static_cast<int>(kUpper.size());
}

std::vector<LengthBucket> length_view(const EvalResult& r) {
  std::vector<LengthBucket> out;
  if (r.modes.empty()) return out;
  const size_t n = r.prompt_tokens.size();
  for (const ModeResult& m : r.modes) KVS_CHECK(m.rows.size() == n);
  for (size_t b = 0; b < kNominal.size(); ++b) {
    std::vector<size_t> idx;  // requests in bucket b
    for (size_t i = 0; i < n; ++i)
      if (length_bucket_index(r.prompt_tokens[i]) == static_cast<int>(b)) idx.push_back(i);
    if (idx.empty()) continue;
    LengthBucket lb;
    lb.nominal = kNominal[b];
    lb.min_tokens = std::numeric_limits<int64_t>::max();
    for (size_t i : idx) {
      lb.min_tokens = std::min(lb.min_tokens, r.prompt_tokens[i]);
      lb.max_tokens = std::max(lb.max_tokens, r.prompt_tokens[i]);
    }
    const ModeResult& full = r.modes.front();
    std::vector<double> full_ttft;
    for (size_t i : idx) full_ttft.push_back(full.rows[i].ttft_ms);
    const double full_p50 = percentile(full_ttft, 0.5), full_nll = mean_nll(full.rows, idx);
    for (const ModeResult& m : r.modes) lb.cells.push_back(cell(m, idx, r, full_p50, full_nll));
    out.push_back(std::move(lb));
  }
  return out;
}

std::string length_table(const EvalResult& r) {
  const std::vector<LengthBucket> v = length_view(r);
  if (v.size() < 2) return "";
  std::ostringstream s;
  s << "\n### By prompt length\n\n"
    << "| length (tokens) | mode | requests | reuse rate | TTFT p50 (ms) | speedup vs full | ROUGE-L vs full | "
       "first-token agr. | PPL ratio |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const LengthBucket& b : v)
    for (const LengthCell& c : b.cells)
      s << "| ~" << b.nominal << " (" << b.min_tokens << "-" << b.max_tokens << ") | " << c.mode << " | " << c.n
        << " | " << f("%.0f%%", 100 * c.reuse_rate) << " | " << f("%.1f", c.ttft_p50) << " | "
        << f("%.2fx", c.speedup) << " | " << f("%.3f", c.rouge_vs_full) << " | " << f("%.0f%%", 100 * c.first_token)
        << " | " << (std::isnan(c.ppl_ratio) ? std::string("n/a") : f("%.3f", c.ppl_ratio)) << " |\n";
  s << "\nBuckets: the nearest of 400 / 800 / 1,600 / 3,200 tokens on a log scale. speedup: full's TTFT p50 over "
       "the mode's, within the bucket.\n";
  return s.str();
}

}  // namespace kvs::eval
