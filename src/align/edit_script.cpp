#include "align/edit_script.h"

#include <algorithm>

#include "align/raw_script.h"

namespace kvs::align {
namespace detail {

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

}  // namespace detail

using detail::prefix_len;
using detail::suffix_len;

int32_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  return static_cast<int32_t>(prefix_len(a.data(), static_cast<int64_t>(a.size()), b.data(), static_cast<int64_t>(b.size())));
}

int32_t common_suffix(std::span<const int32_t> a, std::span<const int32_t> b, int32_t skip) {
  KVS_CHECK(skip >= 0 && static_cast<size_t>(skip) <= std::min(a.size(), b.size()));
  return static_cast<int32_t>(suffix_len(a.data() + skip, static_cast<int64_t>(a.size()) - skip, b.data() + skip,
                                         static_cast<int64_t>(b.size()) - skip));
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
