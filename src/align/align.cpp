// align(): Myers under the cap, else anchor-then-diff (see edit_script.h for the contract).
#include <limits>
#include <utility>
#include <vector>

#include "align/anchors.h"
#include "align/edit_script.h"
#include "align/greedy.h"
#include "align/lcs_table.h"
#include "align/myers.h"
#include "align/raw_script.h"

namespace kvs::align {
namespace {

using detail::RawScript;

constexpr int32_t kWindows[] = {8, 3, 1};  // anchor window sizes, tried in this order
constexpr int kMaxDepth = 24;              // anchor recursion depth; deeper regions are matched greedily
constexpr int64_t kSmallRegion = 64;       // regions this small go straight to Myers (no lower bound pass)

// True unless D provably exceeds cap (then Myers would only spend its budget to fail).
bool myers_may_finish(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t cap) {
  if (std::max(n, m) - std::min(n, m) > cap) return false;  // D >= |n - m|
  return n + m <= kSmallRegion || detail::distance_lower_bound(a, n, b, m) <= cap;
}

// Anchor-then-diff over one region: strip the common prefix and suffix; solve exactly when Myers finishes
// under the cap or the LCS table is small; else split on the chain of unique windows and recurse into the
// gaps; a region with no anchors (or too deep) is matched greedily and marks the script capped.
class AnchoredAligner {
 public:
  AnchoredAligner(int64_t cap, int64_t table_cells, RawScript* out) : cap_(cap), table_cells_(table_cells), out_(out) {}
  bool capped() const { return capped_; }

  // skip_myers: Myers is known to exceed the cap on exactly this region.
  void region(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int depth, bool skip_myers) {
    const int64_t p = detail::prefix_len(a, n, b, m);
    a += p, b += p, n -= p, m -= p;
    const int64_t s = detail::suffix_len(a, n, b, m);
    n -= s, m -= s;
    out_->keep(p);
    if (!exact(a, n, b, m, skip_myers)) split(a, n, b, m, depth);
    out_->keep(s);
  }

 private:
  bool exact(const int32_t* a, int64_t n, const int32_t* b, int64_t m, bool skip_myers) {
    if (n == 0 || m == 0) {  // a pure insert or delete, however long: exact at O(1)
      out_->del(n);
      out_->ins(m);
      return true;
    }
    if (!skip_myers && myers_may_finish(a, n, b, m, cap_) && detail::myers_diff(a, n, b, m, cap_, out_)) return true;
    return detail::table_diff(a, n, b, m, table_cells_, out_);
  }

  void split(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int depth) {
    std::vector<detail::Segment> chain;
    if (depth < kMaxDepth) {
      for (int32_t k : kWindows) {
        chain = detail::unique_window_chain(a, n, b, m, k);
        if (!chain.empty()) break;
      }
    }
    if (chain.empty()) {
      detail::greedy_diff(a, n, b, m, out_);
      capped_ = true;
      return;
    }
    int64_t ia = 0, ib = 0;  // ends of the previous anchor
    for (const detail::Segment& seg : chain) {
      region(a + ia, seg.a - ia, b + ib, seg.b - ib, depth + 1, false);
      out_->keep(seg.n);
      ia = seg.a + seg.n;
      ib = seg.b + seg.n;
    }
    region(a + ia, n - ia, b + ib, m - ib, depth + 1, false);
  }

  int64_t cap_;
  int64_t table_cells_;
  RawScript* out_;
  bool capped_ = false;
};

}  // namespace

EditScript align(std::span<const int32_t> donor, std::span<const int32_t> target, const AlignOptions& opt) {
  KVS_CHECK(donor.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  KVS_CHECK(target.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  KVS_CHECK(opt.max_edit_distance >= 0);
  KVS_CHECK(opt.max_table_cells >= 0);
  const int64_t n = static_cast<int64_t>(donor.size()), m = static_cast<int64_t>(target.size());
  const int32_t* a = donor.data();
  const int32_t* b = target.data();
  const int64_t cap = opt.max_edit_distance;

  EditScript script;
  script.donor_len = static_cast<int32_t>(n);
  script.target_len = static_cast<int32_t>(m);
  RawScript raw;
  const int64_t p = detail::prefix_len(a, n, b, m);
  const int64_t s = detail::suffix_len(a + p, n - p, b + p, m - p);
  const int32_t* ma = a + p;
  const int32_t* mb = b + p;
  const int64_t mn = n - p - s, mm = m - p - s;  // the middle, between the common prefix and suffix
  raw.keep(p);
  bool anchored = false;
  if (myers_may_finish(ma, mn, mb, mm, cap) && detail::myers_diff(ma, mn, mb, mm, cap, &raw)) {
    // exact: the script myers_align() returns
  } else if (!opt.anchor_fallback) {
    raw.del(mn);
    raw.ins(mm);
    script.capped = true;
  } else {
    AnchoredAligner aligner(cap, opt.max_table_cells, &raw);
    aligner.region(ma, mn, mb, mm, 0, true);
    script.capped = aligner.capped();
    anchored = true;
  }
  raw.keep(s);
  if (anchored) {
    // The floor: never below the plain greedy match of the whole sequences (greedy_align()).
    RawScript greedy;
    detail::greedy_diff(a, n, b, m, &greedy);
    if (greedy.kept() > raw.kept()) {
      raw = std::move(greedy);
      script.capped = true;
    }
  }
  script.runs = detail::canonical_runs(raw.ops());
  return script;
}

}  // namespace kvs::align
