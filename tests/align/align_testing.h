// Test helpers for src/align: independent references (LCS by DP, the plain greedy match by brute force), the
// invariant checks of edit_script.h done without verify(), and input generators.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "align/edit_script.h"

namespace kvs::align::test_util {

using Seq = std::vector<int32_t>;

// Reference LCS length, O(N*M).
inline int64_t lcs(const Seq& a, const Seq& b) {
  std::vector<int32_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The plain greedy match of greedy.h, by brute force: its KEEP runs {src, dst, n}.
inline std::vector<EditRun> reference_greedy_keeps(const Seq& a, const Seq& b) {
  std::vector<EditRun> keeps;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    size_t ip = a.size(), jp = j;
    for (; jp < b.size() && ip == a.size(); ++jp) {
      for (size_t t = i; t < a.size(); ++t) {
        if (a[t] == b[jp]) {
          ip = t;
          break;
        }
      }
      if (ip != a.size()) break;
    }
    if (ip == a.size()) break;
    size_t len = 0;
    while (ip + len < a.size() && jp + len < b.size() && a[ip + len] == b[jp + len]) ++len;
    keeps.push_back({EditOp::kKeep, static_cast<int32_t>(ip), static_cast<int32_t>(jp), static_cast<int32_t>(len)});
    i = ip + len;
    j = jp + len;
  }
  return keeps;
}

inline int64_t reference_greedy_kept(const Seq& a, const Seq& b) {
  int64_t t = 0;
  for (const EditRun& r : reference_greedy_keeps(a, b)) t += r.n;
  return t;
}

// Independent checks of the header's invariants (not via verify()), and maximal KEEP runs: the first and the
// last tokens of a DELETE and of the INSERT beside it never match.
inline void expect_well_formed(const EditScript& s, const Seq& donor, const Seq& target) {
  ASSERT_EQ(s.donor_len, static_cast<int32_t>(donor.size()));
  ASSERT_EQ(s.target_len, static_cast<int32_t>(target.size()));
  std::vector<int> cov_t(target.size(), 0), cov_d(donor.size(), 0);
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const EditRun& r = s.runs[i];
    ASSERT_GT(r.n, 0);
    if (r.op != EditOp::kDelete)
      for (int32_t j = 0; j < r.n; ++j) ++cov_t.at(r.dst + j);
    if (r.op != EditOp::kInsert)
      for (int32_t j = 0; j < r.n; ++j) ++cov_d.at(r.src + j);
    if (r.op == EditOp::kKeep) {
      for (int32_t j = 0; j < r.n; ++j) ASSERT_EQ(donor[r.src + j], target[r.dst + j]);
    }
    if (i > 0) {
      const EditRun& q = s.runs[i - 1];
      ASSERT_LE(q.dst, r.dst) << "sorted by dst";
      ASSERT_LE(q.src, r.src) << "sorted by src";
      ASSERT_NE(q.op, r.op) << "adjacent runs with the same op";
      if (q.op == EditOp::kKeep && r.op == EditOp::kKeep) {
        ASSERT_FALSE(q.src + q.n == r.src && q.dst + q.n == r.dst) << "KEEP runs not maximal";
      }
      if (q.op == EditOp::kDelete && r.op == EditOp::kInsert) {
        ASSERT_NE(donor[q.src], target[r.dst]) << "run " << i << ": a KEEP could start the replacement";
        ASSERT_NE(donor[q.src + q.n - 1], target[r.dst + r.n - 1]) << "run " << i << ": a KEEP could end it";
      }
    }
  }
  // Also: no two KEEP runs anywhere are contiguous in both src and dst.
  const EditRun* last_keep = nullptr;
  for (const EditRun& r : s.runs) {
    if (r.op != EditOp::kKeep) continue;
    if (last_keep) {
      ASSERT_FALSE(last_keep->src + last_keep->n == r.src && last_keep->dst + last_keep->n == r.dst);
    }
    last_keep = &r;
  }
  for (int c : cov_t) ASSERT_EQ(c, 1) << "target position not covered exactly once";
  for (int c : cov_d) ASSERT_EQ(c, 1) << "donor position not covered exactly once";
  ASSERT_EQ(apply(s, donor, target), target);
  ASSERT_TRUE(verify(s, donor, target).is_ok()) << verify(s, donor, target).to_string();
  ASSERT_EQ(s.kept() + s.inserted(), static_cast<int64_t>(target.size()));
  ASSERT_EQ(s.kept() + s.deleted(), static_cast<int64_t>(donor.size()));
}

// Mutations of a base: inserts, deletes, substitutions, block moves and duplications (runs of 1..8 tokens).
inline Seq mutate(const Seq& base, std::mt19937& rng, int n_edits, int vocab) {
  Seq s = base;
  for (int e = 0; e < n_edits; ++e) {
    const int kind = static_cast<int>(rng() % 5);
    const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    const size_t len = 1 + rng() % 8;
    if (kind == 0) {  // insert
      Seq ins(len);
      for (auto& t : ins) t = static_cast<int32_t>(rng() % vocab);
      s.insert(s.begin() + pos, ins.begin(), ins.end());
    } else if (kind == 1 && pos < s.size()) {  // delete
      s.erase(s.begin() + pos, s.begin() + std::min(s.size(), pos + len));
    } else if (kind == 2 && pos < s.size()) {  // substitute
      for (size_t i = pos; i < std::min(s.size(), pos + len); ++i) s[i] = static_cast<int32_t>(rng() % vocab);
    } else if (kind == 3 && pos < s.size()) {  // move a block to the front
      Seq blk(s.begin() + pos, s.begin() + std::min(s.size(), pos + len));
      s.erase(s.begin() + pos, s.begin() + pos + blk.size());
      s.insert(s.begin(), blk.begin(), blk.end());
    } else if (pos < s.size()) {  // duplicate a block
      Seq blk(s.begin() + pos, s.begin() + std::min(s.size(), pos + len));
      s.insert(s.begin() + pos, blk.begin(), blk.end());
    }
  }
  return s;
}

// Zipf-like token ids over [0, vocab) (p ~ 1 / id): text-like, many repeats of the frequent ids.
inline Seq zipf_tokens(std::mt19937& rng, int n, int vocab) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Seq s(n);
  for (auto& t : s) t = static_cast<int32_t>(std::pow(static_cast<double>(vocab), u(rng))) - 1;
  return s;
}

}  // namespace kvs::align::test_util
