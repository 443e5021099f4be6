#include "align/edit_script.h"

#include <algorithm>
#include <limits>
#include <unordered_map>
#include <utility>

namespace kvs::align {
namespace {

constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();

// One op of the raw script, before positions are assigned; neighbours with the same op are merged on append.
struct RawOp {
  EditOp op;
  int64_t n;
};

class RawScript {
 public:
  void keep(int64_t n) { add(EditOp::kKeep, n); }
  void ins(int64_t n) { add(EditOp::kInsert, n); }
  void del(int64_t n) { add(EditOp::kDelete, n); }
  const std::vector<RawOp>& ops() const { return ops_; }

 private:
  void add(EditOp op, int64_t n) {
    if (n <= 0) return;
    if (!ops_.empty() && ops_.back().op == op) ops_.back().n += n;
    else ops_.push_back({op, n});
  }
  std::vector<RawOp> ops_;
};

int64_t prefix_len(const int32_t* a, int64_t n, const int32_t* b, int64_t m) {
  const int64_t lim = std::min(n, m);
  int64_t i = 0;
  while (i < lim && a[i] == b[i]) ++i;
  return i;
}

int64_t suffix_len(const int32_t* a, int64_t n, const int32_t* b, int64_t m) {
  const int64_t lim = std::min(n, m);
  int64_t i = 0;
  while (i < lim && a[n - 1 - i] == b[m - 1 - i]) ++i;
  return i;
}

// Myers' diff in linear space. diff() appends a minimal script for a (n) -> b (m) when the edit distance D
// is <= cap and returns true; otherwise it appends nothing and returns false.
class Myers {
 public:
  explicit Myers(RawScript* out) : out_(out) {}

  bool diff(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t cap) {
    const int64_t p = prefix_len(a, n, b, m);
    a += p, b += p, n -= p, m -= p;
    const int64_t s = suffix_len(a, n, b, m);
    n -= s, m -= s;
    if (n == 0 || m == 0) {
      if (n + m > cap) return false;
      out_->keep(p);
      out_->del(n);
      out_->ins(m);
      out_->keep(s);
      return true;
    }
    int64_t x = 0, y = 0;
    if (!bisect(a, n, b, m, cap, &x, &y)) return false;
    out_->keep(p);
    // The two halves' distances sum to D <= cap, so they cannot fail.
    KVS_CHECK(diff(a, x, b, y, kUnbounded));
    KVS_CHECK(diff(a + x, n - x, b + y, m - y, kUnbounded));
    out_->keep(s);
    return true;
  }

 private:
  // Finds a point (x, y) on a minimal path through the middle snake (Myers 1986, section 4b; the layout of
  // Neil Fraser's diff-match-patch bisect). REQUIRES: n, m > 0, a[0] != b[0] and a[n-1] != b[m-1], so D >= 2
  // and the point splits the box into two strictly smaller ones. Returns false when D > cap.
  bool bisect(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t cap, int64_t* sx, int64_t* sy) {
    const int64_t max_d = (n + m + 1) / 2;
    // Iteration d finds paths of D = 2d - 1 (forward) or 2d (reverse): d <= (cap + 1) / 2 suffices.
    const int64_t d_end = cap >= 2 * max_d ? max_d : std::min<int64_t>(max_d, (cap + 1) / 2 + 1);
    const int64_t off = d_end + 1;
    const int64_t len = 2 * off + 1;
    vf_.assign(len, -1);  // (2 * off + 1) furthest x on forward diagonal k = x - y, at index off + k
    vr_.assign(len, -1);  // same for the reversed sequences
    vf_[off + 1] = 0;
    vr_[off + 1] = 0;
    const int64_t delta = n - m;
    const bool front = (delta % 2) != 0;  // odd delta: overlap is detected on the forward pass
    int64_t k1start = 0, k1end = 0, k2start = 0, k2end = 0;
    for (int64_t d = 0; d < d_end; ++d) {
      for (int64_t k1 = -d + k1start; k1 <= d - k1end; k1 += 2) {
        const int64_t i1 = off + k1;
        int64_t x1 = (k1 == -d || (k1 != d && vf_[i1 - 1] < vf_[i1 + 1])) ? vf_[i1 + 1] : vf_[i1 - 1] + 1;
        int64_t y1 = x1 - k1;
        while (x1 < n && y1 < m && a[x1] == b[y1]) ++x1, ++y1;
        vf_[i1] = x1;
        if (x1 > n) {
          k1end += 2;  // ran off the right of the box
        } else if (y1 > m) {
          k1start += 2;  // ran off the bottom
        } else if (front) {
          const int64_t i2 = off + delta - k1;
          if (i2 >= 0 && i2 < len && vr_[i2] != -1 && x1 >= n - vr_[i2]) {
            if (2 * d - 1 > cap) return false;
            *sx = x1, *sy = y1;
            return true;
          }
        }
      }
      for (int64_t k2 = -d + k2start; k2 <= d - k2end; k2 += 2) {
        const int64_t i2 = off + k2;
        int64_t x2 = (k2 == -d || (k2 != d && vr_[i2 - 1] < vr_[i2 + 1])) ? vr_[i2 + 1] : vr_[i2 - 1] + 1;
        int64_t y2 = x2 - k2;
        while (x2 < n && y2 < m && a[n - 1 - x2] == b[m - 1 - y2]) ++x2, ++y2;
        vr_[i2] = x2;
        if (x2 > n) {
          k2end += 2;
        } else if (y2 > m) {
          k2start += 2;
        } else if (!front) {
          const int64_t i1 = off + delta - k2;
          if (i1 >= 0 && i1 < len && vf_[i1] != -1) {
            const int64_t x1 = vf_[i1];
            const int64_t y1 = x1 - (delta - k2);
            if (x1 >= n - x2) {
              if (2 * d > cap) return false;
              *sx = x1, *sy = y1;
              return true;
            }
          }
        }
      }
    }
    if (d_end < max_d) return false;  // stopped by the cap
    // No overlap in max_d rounds: nothing in common, D = n + m.
    if (n + m > cap) return false;
    *sx = n, *sy = 0;  // split into "delete all" | "insert all"
    return true;
  }

  RawScript* out_;
  std::vector<int64_t> vf_, vr_;
};

// Appends a script for a -> b that is minimal when D <= cap, else common prefix + DELETE + INSERT + suffix.
void diff_or_replace(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t cap, RawScript* out) {
  Myers myers(out);
  if (myers.diff(a, n, b, m, cap)) return;
  const int64_t p = prefix_len(a, n, b, m);
  const int64_t s = suffix_len(a + p, n - p, b + p, m - p);
  out->keep(p);
  out->del(n - p - s);
  out->ins(m - p - s);
  out->keep(s);
}

// Coarse fallback (patience anchors), see the header. a and b have had their common prefix/suffix removed
// and their exact diff exceeded the cap.
void anchored(const int32_t* a, int64_t n, const int32_t* b, int64_t m, int64_t cap, RawScript* out) {
  struct Occ {
    int64_t count_a = 0, count_b = 0, pos_a = -1;
  };
  std::unordered_map<int32_t, Occ> occ;
  occ.reserve(static_cast<size_t>(n + m));
  for (int64_t i = 0; i < n; ++i) {
    Occ& o = occ[a[i]];
    ++o.count_a;
    o.pos_a = i;
  }
  for (int64_t j = 0; j < m; ++j) ++occ[b[j]].count_b;
  // Candidate anchors in target order: (pos in a, pos in b).
  std::vector<std::pair<int64_t, int64_t>> cand;
  for (int64_t j = 0; j < m; ++j) {
    const Occ& o = occ[b[j]];
    if (o.count_a == 1 && o.count_b == 1) cand.emplace_back(o.pos_a, j);
  }
  // Longest chain with increasing pos_a (patience sorting, O(K log K)); ties are impossible (unique tokens).
  std::vector<int64_t> tails;         // tails[l]: index in cand of the smallest tail of a chain of length l + 1
  std::vector<int64_t> prev(cand.size(), -1);
  for (int64_t c = 0; c < static_cast<int64_t>(cand.size()); ++c) {
    auto it = std::lower_bound(tails.begin(), tails.end(), cand[c].first,
                               [&](int64_t t, int64_t pa) { return cand[t].first < pa; });
    const int64_t l = it - tails.begin();
    prev[c] = l > 0 ? tails[l - 1] : -1;
    if (it == tails.end()) tails.push_back(c);
    else *it = c;
  }
  if (tails.empty()) {
    out->del(n);
    out->ins(m);
    return;
  }
  std::vector<int64_t> chain;
  for (int64_t c = tails.back(); c >= 0; c = prev[c]) chain.push_back(c);
  std::reverse(chain.begin(), chain.end());
  int64_t i0 = 0, j0 = 0;
  for (int64_t c : chain) {
    const auto [pa, pb] = cand[c];
    diff_or_replace(a + i0, pa - i0, b + j0, pb - j0, cap, out);
    out->keep(1);
    i0 = pa + 1, j0 = pb + 1;
  }
  diff_or_replace(a + i0, n - i0, b + j0, m - j0, cap, out);
}

// Raw ops -> canonical runs with positions: between KEEPs one DELETE then one INSERT.
std::vector<EditRun> canonical_runs(const std::vector<RawOp>& ops) {
  std::vector<EditRun> runs;
  int64_t src = 0, dst = 0, pend_del = 0, pend_ins = 0;
  auto flush = [&] {
    if (pend_del > 0) {
      runs.push_back({EditOp::kDelete, static_cast<int32_t>(src), static_cast<int32_t>(dst), static_cast<int32_t>(pend_del)});
      src += pend_del;
    }
    if (pend_ins > 0) {
      runs.push_back({EditOp::kInsert, static_cast<int32_t>(src), static_cast<int32_t>(dst), static_cast<int32_t>(pend_ins)});
      dst += pend_ins;
    }
    pend_del = pend_ins = 0;
  };
  for (const RawOp& o : ops) {
    if (o.op == EditOp::kDelete) {
      pend_del += o.n;
    } else if (o.op == EditOp::kInsert) {
      pend_ins += o.n;
    } else {
      flush();
      if (!runs.empty() && runs.back().op == EditOp::kKeep) runs.back().n += static_cast<int32_t>(o.n);
      else runs.push_back({EditOp::kKeep, static_cast<int32_t>(src), static_cast<int32_t>(dst), static_cast<int32_t>(o.n)});
      src += o.n;
      dst += o.n;
    }
  }
  flush();
  return runs;
}

}  // namespace

int32_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  return static_cast<int32_t>(prefix_len(a.data(), static_cast<int64_t>(a.size()), b.data(), static_cast<int64_t>(b.size())));
}

int32_t common_suffix(std::span<const int32_t> a, std::span<const int32_t> b, int32_t skip) {
  KVS_CHECK(skip >= 0 && static_cast<size_t>(skip) <= std::min(a.size(), b.size()));
  return static_cast<int32_t>(suffix_len(a.data() + skip, static_cast<int64_t>(a.size()) - skip, b.data() + skip,
                                         static_cast<int64_t>(b.size()) - skip));
}

EditScript align(std::span<const int32_t> donor, std::span<const int32_t> target, const AlignOptions& opt) {
  KVS_CHECK(donor.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  KVS_CHECK(target.size() < static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  KVS_CHECK(opt.max_edit_distance >= 0);
  const int64_t n = static_cast<int64_t>(donor.size()), m = static_cast<int64_t>(target.size());
  const int32_t* a = donor.data();
  const int32_t* b = target.data();

  EditScript script;
  script.donor_len = static_cast<int32_t>(n);
  script.target_len = static_cast<int32_t>(m);
  RawScript raw;
  const int64_t p = prefix_len(a, n, b, m);
  const int64_t s = suffix_len(a + p, n - p, b + p, m - p);
  const int64_t mn = n - p - s, mm = m - p - s;  // middle lengths
  raw.keep(p);
  Myers myers(&raw);
  if (!myers.diff(a + p, mn, b + p, mm, opt.max_edit_distance)) {
    script.capped = true;
    if (opt.anchor_fallback) {
      anchored(a + p, mn, b + p, mm, opt.max_edit_distance, &raw);
    } else {
      raw.del(mn);
      raw.ins(mm);
    }
  }
  raw.keep(s);
  script.runs = canonical_runs(raw.ops());
  return script;
}

std::vector<int32_t> apply(const EditScript& script, std::span<const int32_t> donor, std::span<const int32_t> target) {
  KVS_CHECK(static_cast<int64_t>(donor.size()) == script.donor_len);
  KVS_CHECK(static_cast<int64_t>(target.size()) == script.target_len);
  std::vector<int32_t> out;
  out.reserve(target.size());
  for (const EditRun& r : script.runs) {
    KVS_CHECK(r.n >= 0);
    if (r.op == EditOp::kKeep) {
      KVS_CHECK(r.src >= 0 && static_cast<int64_t>(r.src) + r.n <= script.donor_len);
      out.insert(out.end(), donor.begin() + r.src, donor.begin() + r.src + r.n);
    } else if (r.op == EditOp::kInsert) {
      KVS_CHECK(r.dst >= 0 && static_cast<int64_t>(r.dst) + r.n <= script.target_len);
      out.insert(out.end(), target.begin() + r.dst, target.begin() + r.dst + r.n);
    }
  }
  return out;
}

Status verify(const EditScript& script, std::span<const int32_t> donor, std::span<const int32_t> target) {
  if (static_cast<int64_t>(donor.size()) != script.donor_len || static_cast<int64_t>(target.size()) != script.target_len)
    return invalid_argument("script lengths do not match the sequences");
  int64_t src = 0, dst = 0;
  for (size_t i = 0; i < script.runs.size(); ++i) {
    const EditRun& r = script.runs[i];
    const std::string at = "run " + std::to_string(i) + ": ";
    if (r.n <= 0) return invalid_argument(at + "empty run");
    if (r.src != src || r.dst != dst) return invalid_argument(at + "does not start at the cursors");
    if (i > 0) {
      const EditRun& q = script.runs[i - 1];
      if (q.op == r.op) return invalid_argument(at + "same op as the previous run (not maximal)");
      if (q.op == EditOp::kInsert && r.op == EditOp::kDelete) return invalid_argument(at + "DELETE after INSERT");
    }
    switch (r.op) {
      case EditOp::kKeep:
        if (src + r.n > script.donor_len || dst + r.n > script.target_len) return invalid_argument(at + "KEEP out of range");
        for (int32_t j = 0; j < r.n; ++j)
          if (donor[src + j] != target[dst + j]) return invalid_argument(at + "KEEP of unequal tokens");
        src += r.n;
        dst += r.n;
        break;
      case EditOp::kInsert:
        if (dst + r.n > script.target_len) return invalid_argument(at + "INSERT out of range");
        dst += r.n;
        break;
      case EditOp::kDelete:
        if (src + r.n > script.donor_len) return invalid_argument(at + "DELETE out of range");
        src += r.n;
        break;
    }
  }
  if (src != script.donor_len || dst != script.target_len) return invalid_argument("runs do not cover both sequences");
  return Status::ok();
}

int64_t EditScript::kept() const {
  int64_t t = 0;
  for (const EditRun& r : runs) t += r.op == EditOp::kKeep ? r.n : 0;
  return t;
}

int64_t EditScript::inserted() const {
  int64_t t = 0;
  for (const EditRun& r : runs) t += r.op == EditOp::kInsert ? r.n : 0;
  return t;
}

int64_t EditScript::deleted() const {
  int64_t t = 0;
  for (const EditRun& r : runs) t += r.op == EditOp::kDelete ? r.n : 0;
  return t;
}

int64_t EditScript::keep_runs() const {
  int64_t t = 0;
  for (const EditRun& r : runs) t += r.op == EditOp::kKeep;
  return t;
}

int64_t EditScript::shifted_runs() const {
  int64_t t = 0;
  for (const EditRun& r : runs) t += r.op == EditOp::kKeep && r.shift() != 0;
  return t;
}

int32_t EditScript::exact_prefix() const {
  if (runs.empty() || runs[0].op != EditOp::kKeep) return 0;
  return runs[0].n;  // a leading KEEP starts at src = dst = 0
}

std::string EditScript::to_string(size_t max_runs) const {
  if (runs.empty()) return capped ? "(empty) (capped)" : "(empty)";
  std::string s;
  for (size_t i = 0; i < runs.size() && i < max_runs; ++i) {
    const EditRun& r = runs[i];
    if (i > 0) s += ' ';
    s += r.op == EditOp::kKeep ? 'K' : r.op == EditOp::kInsert ? 'I' : 'D';
    s += std::to_string(r.n);
    if (r.op == EditOp::kKeep && r.shift() != 0) {
      s += r.shift() > 0 ? "(+" : "(";
      s += std::to_string(r.shift());
      s += ')';
    }
  }
  if (runs.size() > max_runs) {
    s += " ...(+";
    s += std::to_string(runs.size() - max_runs);
    s += " runs)";
  }
  if (capped) s += " (capped)";
  return s;
}

}  // namespace kvs::align
