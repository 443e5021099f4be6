#include "share/reuse_plan.h"

#include <algorithm>

namespace kvs::share {
namespace {

// Structural check of a script (cursors, coverage, canonical order) without the tokens.
Status check_script_shape(const align::EditScript& s) {
  int64_t src = 0, dst = 0;
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const align::EditRun& r = s.runs[i];
    if (r.n <= 0 || r.src != src || r.dst != dst) return invalid_argument("edit script run " + std::to_string(i) + " is malformed");
    if (i > 0 && s.runs[i - 1].op == r.op) return invalid_argument("edit script runs are not maximal");
    if (r.op != align::EditOp::kInsert) src += r.n;
    if (r.op != align::EditOp::kDelete) dst += r.n;
  }
  if (src != s.donor_len || dst != s.target_len) return invalid_argument("edit script does not cover both sequences");
  return Status::ok();
}

// kSemantic: own-donor runs are KEEP runs of the script, in order; fragment runs never overlap a KEEP run that is
// still reused; every INSERTed position is recomputed or covered by a fragment run.
Status check_against_script(const ReusePlan& p) {
  std::vector<uint8_t> fragment(static_cast<size_t>(p.n_prompt), 0);
  for (const ReusedRun& r : p.reused)
    if (r.donor >= 0)
      for (int32_t j = 0; j < r.n; ++j) fragment[r.dst + j] = 1;
  size_t ki = 0;
  for (const ReusedRun& r : p.reused) {
    if (r.donor >= 0) continue;
    while (ki < p.script.runs.size() &&
           (p.script.runs[ki].op != align::EditOp::kKeep || p.script.runs[ki].dst < r.dst))
      ++ki;
    if (ki == p.script.runs.size() || (ReusedRun{p.script.runs[ki].src, p.script.runs[ki].dst, p.script.runs[ki].n}) != r)
      return invalid_argument("an own-donor run is not a KEEP run of the script");
    ++ki;
  }
  for (const align::EditRun& r : p.script.runs) {
    if (r.op != align::EditOp::kInsert) continue;
    for (int32_t j = 0; j < r.n; ++j)
      if (!fragment[r.dst + j] && !p.recompute.contains(r.dst + j))
        return invalid_argument("an inserted position is neither recomputed nor covered by a fragment");
  }
  return Status::ok();
}

}  // namespace

const char* mode_name(ReuseMode mode) {
  switch (mode) {
    case ReuseMode::kFull: return "full";
    case ReuseMode::kPrefix: return "prefix";
    case ReuseMode::kSemantic: return "semantic";
  }
  return "?";
}

std::vector<int64_t> ReusePlan::donors() const {
  std::vector<int64_t> out;
  for (const ReusedRun& r : reused)
    if (r.donor < 0 && donor_id >= 0) {
      out.push_back(donor_id);
      break;
    }
  for (const ReusedRun& r : reused) {
    const int64_t d = donor_of(r);
    if (d >= 0 && std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  }
  return out;
}

bool ReusePlan::has_fragments() const {
  return std::any_of(reused.begin(), reused.end(), [](const ReusedRun& r) { return r.donor >= 0; });
}

int64_t ReusePlan::n_reused() const {
  int64_t total = 0;
  for (const ReusedRun& r : reused) total += r.n;
  // Subtract recomputed positions that are inside a reused run (runs are sorted by dst and disjoint).
  size_t ri = 0;
  for (int32_t p : recompute.positions()) {
    while (ri < reused.size() && reused[ri].dst + reused[ri].n <= p) ++ri;
    if (ri < reused.size() && reused[ri].dst <= p) --total;
  }
  return total;
}

std::vector<ReusedSlot> ReusePlan::slots() const {
  std::vector<ReusedSlot> out;
  for (const ReusedRun& r : reused)
    for (int32_t i = 0; i < r.n; ++i) out.push_back({r.src + i, r.dst + i});
  return out;
}

namespace {
// Calls f(position, run) for every deviation candidate (reused, >= exact_prefix, not recomputed), ascending.
template <typename F>
void for_each_candidate(const ReusePlan& plan, F&& f) {
  const auto rec = plan.recompute.positions();
  size_t ci = 0;
  for (const ReusedRun& r : plan.reused) {
    for (int32_t p = std::max(r.dst, plan.exact_prefix); p < r.dst + r.n; ++p) {
      while (ci < rec.size() && rec[ci] < p) ++ci;
      if (ci < rec.size() && rec[ci] == p) continue;
      f(p, r);
    }
  }
}
}  // namespace

std::vector<int32_t> ReusePlan::deviation_candidates() const {
  std::vector<int32_t> out;
  for_each_candidate(*this, [&](int32_t p, const ReusedRun&) { out.push_back(p); });
  return out;
}

std::vector<uint8_t> ReusePlan::fragment_candidates() const {
  std::vector<uint8_t> out;
  for_each_candidate(*this, [&](int32_t, const ReusedRun& r) { out.push_back(r.donor >= 0 ? 1 : 0); });
  return out;
}

Status ReusePlan::check() const {
  if (n_prompt < 1) return invalid_argument("plan for an empty prompt");
  std::vector<uint8_t> covered(static_cast<size_t>(n_prompt), 0);
  for (size_t i = 0; i < reused.size(); ++i) {
    const ReusedRun& r = reused[i];
    if (r.n <= 0 || r.src < 0 || r.dst < 0 || static_cast<int64_t>(r.dst) + r.n > n_prompt)
      return invalid_argument("reused run " + std::to_string(i) + " out of range");
    if (i > 0) {
      const ReusedRun& q = reused[i - 1];
      if (q.dst + q.n > r.dst) return invalid_argument("reused runs overlap or are unsorted");
      if (q.dst + q.n == r.dst && q.src + q.n == r.src && donor_of(q) == donor_of(r))
        return invalid_argument("reused runs not maximal");
    }
    for (int32_t j = 0; j < r.n; ++j) covered[r.dst + j] = 1;
  }
  for (int32_t p : recompute.positions()) {
    if (p >= n_prompt) return invalid_argument("recompute position " + std::to_string(p) + " outside the prompt");
    covered[p] = 1;
  }
  if (std::find(covered.begin(), covered.end(), 0) != covered.end())
    return invalid_argument("a prompt position is neither reused nor recomputed");
  if (!recompute.contains(n_prompt - 1)) return invalid_argument("the last prompt token is not recomputed");
  if (exact_prefix < 0 || exact_prefix > n_prompt) return invalid_argument("exact_prefix out of range");
  if (exact_prefix > 0 && (reused.empty() || reused[0].src != 0 || reused[0].dst != 0 || reused[0].n < exact_prefix))
    return invalid_argument("exact prefix is not a leading unshifted reused run");
  switch (mode) {
    case ReuseMode::kFull:
      if (!reused.empty()) return invalid_argument("full plan with reused slots");
      break;
    case ReuseMode::kPrefix:
      if (reused.size() > 1 || (reused.size() == 1 && (reused[0].shift() != 0 || reused[0].n != exact_prefix)))
        return invalid_argument("prefix plan must reuse exactly [0, exact_prefix)");
      break;
    case ReuseMode::kSemantic: {
      KVS_RETURN_IF_ERROR(check_script_shape(script));
      if (script.target_len != n_prompt) return invalid_argument("script target length != prompt length");
      KVS_RETURN_IF_ERROR(check_against_script(*this));
      break;
    }
  }
  if (n_reused() + n_recomputed() != n_prompt) return invalid_argument("reused + recomputed != prompt tokens");
  return Status::ok();
}

std::string ReusePlan::to_string() const {
  std::string s = mode_name(mode);
  if (fell_back) s += "(fell back)";
  if (mode == ReuseMode::kSemantic) s += " donor=" + std::to_string(donor_id);
  s += " n=" + std::to_string(n_prompt) + " reused=" + std::to_string(n_reused()) +
       " recompute=" + std::to_string(n_recomputed()) + " " + recompute.to_string(8);
  if (mode == ReuseMode::kSemantic) s += " script=" + script.to_string(16);
  if (has_fragments()) {
    s += " fragments=";
    int shown = 0;
    for (const ReusedRun& r : reused) {
      if (r.donor < 0) continue;
      if (shown++ == 8) {
        s += " ...";
        break;
      }
      s += (shown > 1 ? " d" : "d") + std::to_string(r.donor) + ":[" + std::to_string(r.src) + "," +
           std::to_string(r.src + r.n) + ")->[" + std::to_string(r.dst) + "," + std::to_string(r.dst + r.n) + ")";
    }
  }
  return s;
}

ReusePlan full_plan(int32_t n_prompt) {
  KVS_CHECK(n_prompt >= 1);
  ReusePlan p;
  p.mode = ReuseMode::kFull;
  p.n_prompt = n_prompt;
  p.recompute = RecomputeSet::range(0, n_prompt);
  p.predicted_cost = n_prompt;
  return p;
}

ReusePlan prefix_plan(int32_t n_prompt, int32_t prefix_hit) {
  KVS_CHECK(n_prompt >= 1 && prefix_hit >= 0 && prefix_hit <= n_prompt);
  const int32_t h = std::min(prefix_hit, n_prompt - 1);
  ReusePlan p;
  p.mode = ReuseMode::kPrefix;
  p.n_prompt = n_prompt;
  if (h > 0) p.reused.push_back({0, 0, h});
  p.exact_prefix = h;
  p.recompute = RecomputeSet::range(h, n_prompt);
  p.predicted_cost = n_prompt - h;
  return p;
}

Result<ReusePlan> semantic_plan(int32_t n_prompt, int64_t donor_id, const align::EditScript& script) {
  if (n_prompt < 1) return invalid_argument("semantic plan for an empty prompt");
  if (script.target_len != n_prompt)
    return invalid_argument("edit script is for " + std::to_string(script.target_len) + " tokens, prompt has " +
                            std::to_string(n_prompt));
  KVS_RETURN_IF_ERROR(check_script_shape(script));
  ReusePlan p;
  p.mode = ReuseMode::kSemantic;
  p.donor_id = donor_id;
  p.n_prompt = n_prompt;
  p.script = script;
  std::vector<int32_t> rec;
  for (const align::EditRun& r : script.runs) {
    if (r.op == align::EditOp::kKeep) {
      p.reused.push_back({r.src, r.dst, r.n});
    } else if (r.op == align::EditOp::kInsert) {
      for (int32_t j = 0; j < r.n; ++j) rec.push_back(r.dst + j);
    }
  }
  rec.push_back(n_prompt - 1);
  p.recompute = RecomputeSet::from_positions(std::move(rec));
  // The last position is always computed (its logits are needed), even when the donor holds the whole prompt.
  p.exact_prefix = std::min(script.exact_prefix(), n_prompt - 1);
  p.predicted_cost = static_cast<double>(p.recompute.size());
  return p;
}

void add_edit_aware(ReusePlan& plan, int32_t window, int32_t tail) {
  KVS_CHECK(window >= 0 && tail >= 0);
  if (plan.mode != ReuseMode::kSemantic || (window == 0 && tail == 0)) return;
  std::vector<int32_t> add;
  for (const ReusedRun& run : plan.reused) {
    if (run.dst == 0 && run.src == 0) continue;  // the exact prefix: no edit before it
    for (int32_t j = 0; j < std::min(window, run.n); ++j) add.push_back(run.dst + j);
  }
  for (int32_t p = std::max(0, plan.n_prompt - tail); p < plan.n_prompt; ++p) add.push_back(p);
  std::erase_if(add, [&](int32_t p) { return p < plan.exact_prefix; });
  plan.recompute.merge(add);
}

ReusePlan insert_only_plan(int32_t n_prompt) {
  KVS_CHECK(n_prompt >= 1);
  ReusePlan p;
  p.mode = ReuseMode::kSemantic;
  p.n_prompt = n_prompt;
  p.script.donor_len = 0;
  p.script.target_len = n_prompt;
  p.script.runs.push_back({align::EditOp::kInsert, 0, 0, n_prompt});
  p.recompute = RecomputeSet::range(0, n_prompt);
  p.predicted_cost = n_prompt;
  return p;
}

void add_fragment_runs(ReusePlan& plan, std::span<const ReusedRun> fragments) {
  KVS_CHECK(plan.mode == ReuseMode::kSemantic);
  if (fragments.empty()) return;
  std::vector<uint8_t> covered(static_cast<size_t>(plan.n_prompt), 0);
  for (const ReusedRun& f : fragments) {
    KVS_CHECK(f.donor >= 0 && f.n > 0 && f.src >= 0 && f.dst >= plan.exact_prefix && f.dst + f.n <= plan.n_prompt);
    for (int32_t j = 0; j < f.n; ++j) {
      KVS_CHECK_MSG(!covered[f.dst + j], "fragment runs overlap");
      covered[f.dst + j] = 1;
    }
  }
  // Own-donor runs a fragment overlaps are dropped; what of them no fragment covers is recomputed.
  std::vector<int32_t> add;
  std::vector<ReusedRun> kept;
  for (const ReusedRun& r : plan.reused) {
    bool overlaps = false;
    for (int32_t j = 0; j < r.n && !overlaps; ++j) overlaps = covered[r.dst + j];
    if (!overlaps) {
      kept.push_back(r);
      continue;
    }
    for (int32_t j = 0; j < r.n; ++j)
      if (!covered[r.dst + j]) add.push_back(r.dst + j);
  }
  kept.insert(kept.end(), fragments.begin(), fragments.end());
  std::sort(kept.begin(), kept.end(), [](const ReusedRun& a, const ReusedRun& b) { return a.dst < b.dst; });
  // Runs stay maximal per donor: contiguous fragment runs of one donor merge; a fragment run that continues an
  // own-donor run of the same donor gives up its touching token (recomputed).
  std::vector<ReusedRun> merged;
  for (ReusedRun r : kept) {
    if (!merged.empty()) {
      ReusedRun& q = merged.back();
      const bool contiguous = q.dst + q.n == r.dst && q.src + q.n == r.src && plan.donor_of(q) == plan.donor_of(r);
      if (contiguous && q.donor >= 0 && r.donor >= 0) {
        q.n += r.n;
        continue;
      }
      if (contiguous && r.donor >= 0) {
        add.push_back(r.dst);
        ++r.src, ++r.dst, --r.n;
        covered[r.dst - 1] = 0;
      } else if (contiguous) {
        add.push_back(q.dst + q.n - 1);
        covered[q.dst + q.n - 1] = 0;
        if (--q.n == 0) merged.pop_back();
      }
    }
    if (r.n > 0) merged.push_back(r);
  }
  plan.reused = std::move(merged);
  std::vector<int32_t> rec;
  for (int32_t p : plan.recompute.positions())
    if (!covered[p] || p == plan.n_prompt - 1) rec.push_back(p);
  rec.insert(rec.end(), add.begin(), add.end());
  rec.push_back(plan.n_prompt - 1);
  plan.recompute = RecomputeSet::from_positions(std::move(rec));
}

}  // namespace kvs::share
