// RawScript: the op list every aligner in src/align appends to, before positions are assigned.
//
// Invariants: ops() never holds an op with n <= 0, and never two neighbours with the same op (append merges).
// canonical_runs() turns ops into EditScript runs with positions: the cursors start at 0, KEEP advances both,
// DELETE the donor's, INSERT the target's; between two KEEPs at most one DELETE then one INSERT.
// Internal to src/align (namespace detail); the public entry points are in edit_script.h, myers.h, greedy.h.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "align/edit_script.h"

namespace kvs::align::detail {

struct RawOp {
  EditOp op;
  int64_t n;  // > 0
};

class RawScript {
 public:
  void keep(int64_t n) { add(EditOp::kKeep, n); }
  void ins(int64_t n) { add(EditOp::kInsert, n); }
  void del(int64_t n) { add(EditOp::kDelete, n); }
  void append(const RawScript& o) {
    for (const RawOp& op : o.ops_) add(op.op, op.n);
  }
  const std::vector<RawOp>& ops() const { return ops_; }
  int64_t kept() const {
    int64_t t = 0;
    for (const RawOp& o : ops_) t += o.op == EditOp::kKeep ? o.n : 0;
    return t;
  }

 private:
  void add(EditOp op, int64_t n) {
    if (n <= 0) return;
    if (!ops_.empty() && ops_.back().op == op) ops_.back().n += n;
    else ops_.push_back({op, n});
  }
  std::vector<RawOp> ops_;
};

// Raw ops -> canonical runs with positions (see the invariants above).
std::vector<EditRun> canonical_runs(const std::vector<RawOp>& ops);
// The script of `raw` aligning a donor of donor_len tokens to a target of target_len (not capped).
inline EditScript to_script(size_t donor_len, size_t target_len, const RawScript& raw) {
  EditScript s;
  s.donor_len = static_cast<int32_t>(donor_len);
  s.target_len = static_cast<int32_t>(target_len);
  s.runs = canonical_runs(raw.ops());
  return s;
}

// Common prefix / suffix length of a (n tokens) and b (m tokens).
inline int64_t prefix_len(const int32_t* a, int64_t n, const int32_t* b, int64_t m) {
  const int64_t lim = std::min(n, m);
  int64_t i = 0;
  while (i < lim && a[i] == b[i]) ++i;
  return i;
}

inline int64_t suffix_len(const int32_t* a, int64_t n, const int32_t* b, int64_t m) {
  const int64_t lim = std::min(n, m);
  int64_t i = 0;
  while (i < lim && a[n - 1 - i] == b[m - 1 - i]) ++i;
  return i;
}

}  // namespace kvs::align::detail
