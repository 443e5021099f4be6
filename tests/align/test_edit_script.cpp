#include "align/edit_script.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "align/align_testing.h"
#include "align/greedy.h"
#include "align/myers.h"

namespace kvs::align {
namespace {

using test_util::expect_well_formed;
using test_util::lcs;
using test_util::mutate;
using test_util::Seq;

EditScript check_align(const Seq& donor, const Seq& target, const AlignOptions& opt = {}) {
  EditScript s = align(donor, target, opt);
  expect_well_formed(s, donor, target);
  return s;
}

TEST(EditScript, Identical) {
  Seq a = {5, 6, 7, 8, 9};
  EditScript s = check_align(a, a);
  EXPECT_EQ(s.to_string(), "K5");
  EXPECT_EQ(s.kept(), 5);
  EXPECT_EQ(s.keep_runs(), 1);
  EXPECT_EQ(s.shifted_runs(), 0);
  EXPECT_EQ(s.exact_prefix(), 5);
  EXPECT_FALSE(s.capped);
}

TEST(EditScript, EmptySequences) {
  EditScript s = check_align({}, {});
  EXPECT_TRUE(s.runs.empty());
  EXPECT_EQ(s.to_string(), "(empty)");
  s = check_align({}, {1, 2, 3});
  EXPECT_EQ(s.to_string(), "I3");
  EXPECT_EQ(s.inserted(), 3);
  EXPECT_EQ(s.exact_prefix(), 0);
  s = check_align({1, 2, 3}, {});
  EXPECT_EQ(s.to_string(), "D3");
  EXPECT_EQ(s.deleted(), 3);
}

TEST(EditScript, Disjoint) {
  EditScript s = check_align({1, 2, 3, 4}, {5, 6, 7});
  EXPECT_EQ(s.to_string(), "D4 I3");
  EXPECT_EQ(s.kept(), 0);
  EXPECT_EQ(s.runs[1].src, 4);  // INSERT carries the donor cursor
  EXPECT_EQ(s.runs[1].dst, 0);
}

TEST(EditScript, OneSubstitutionIsDeleteThenInsert) {
  EditScript s = check_align({1, 2, 3, 4, 5}, {1, 2, 9, 4, 5});
  EXPECT_EQ(s.to_string(), "K2 D1 I1 K2");
  ASSERT_EQ(s.runs.size(), 4u);
  EXPECT_EQ(s.runs[1], (EditRun{EditOp::kDelete, 2, 2, 1}));
  EXPECT_EQ(s.runs[2], (EditRun{EditOp::kInsert, 3, 2, 1}));
  EXPECT_EQ(s.runs[3], (EditRun{EditOp::kKeep, 3, 3, 2}));
  EXPECT_EQ(s.shifted_runs(), 0);
}

TEST(EditScript, PrefixAndSuffixInsertions) {
  Seq base = {10, 11, 12, 13, 14};
  EditScript s = check_align(base, {1, 2, 10, 11, 12, 13, 14});
  EXPECT_EQ(s.to_string(), "I2 K5(+2)");
  EXPECT_EQ(s.runs[1].shift(), 2);
  EXPECT_EQ(s.shifted_runs(), 1);
  s = check_align(base, {10, 11, 12, 13, 14, 7, 8, 9});
  EXPECT_EQ(s.to_string(), "K5 I3");
  s = check_align({1, 2, 10, 11, 12, 13, 14}, base);
  EXPECT_EQ(s.to_string(), "D2 K5(-2)");
  s = check_align(base, {10, 11, 99, 12, 13, 14});
  EXPECT_EQ(s.to_string(), "K2 I1 K3(+1)");
}

TEST(EditScript, ParaphraseLikeTokens) {
  // "<s> Summarize the following article about solar panels in three bullet points : ..."
  // vs "<s> Please summarize this article on solar panels in 3 bullet points : ..."
  Seq donor = {1, 500, 501, 502, 600, 601, 610, 611, 612, 620, 621, 622, 630, 700, 701, 702, 703, 704, 705};
  Seq target = {1, 499, 503, 502, 600, 602, 610, 611, 612, 623, 621, 622, 630, 700, 701, 702, 703, 704, 705};
  EditScript s = check_align(donor, target);
  EXPECT_EQ(s.kept(), lcs(donor, target));
  EXPECT_EQ(s.to_string(), "K1 D2 I2 K2 D1 I1 K3 D1 I1 K9");
  // A sentence moved to the front: the larger block is kept, the shifted one re-inserted.
  Seq a = {1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 22};
  Seq b = {20, 21, 22, 1, 2, 3, 4, 5, 6, 7, 8};
  s = check_align(a, b);
  EXPECT_EQ(s.kept(), 8);
  EXPECT_EQ(s.to_string(), "I3 K8(+3) D3");
}

TEST(EditScript, ToStringTruncates) {
  Seq a, b;
  for (int i = 0; i < 50; ++i) {
    a.push_back(i);
    a.push_back(1000 + i);
    b.push_back(i);
    b.push_back(2000 + i);
  }
  EditScript s = check_align(a, b);
  EXPECT_EQ(s.runs.size(), 150u);
  const std::string str = s.to_string(3);
  EXPECT_EQ(str, "K1 D1 I1 ...(+147 runs)");
}

TEST(EditScript, VerifyRejectsBrokenScripts) {
  Seq a = {1, 2, 3, 4, 5}, b = {1, 2, 9, 4, 5};
  EditScript good = align(a, b);
  ASSERT_TRUE(verify(good, a, b).is_ok());
  EditScript s = good;
  s.runs[0].n = 1;  // gap
  EXPECT_FALSE(verify(s, a, b).is_ok());
  s = good;
  std::swap(s.runs[1], s.runs[2]);  // INSERT before DELETE
  EXPECT_FALSE(verify(s, a, b).is_ok());
  s = good;
  s.runs = {{EditOp::kKeep, 0, 0, 1}, {EditOp::kKeep, 1, 1, 1}, {EditOp::kDelete, 2, 2, 1},
            {EditOp::kInsert, 3, 2, 1}, {EditOp::kKeep, 3, 3, 2}};  // split KEEP: not maximal
  EXPECT_FALSE(verify(s, a, b).is_ok());
  s = good;
  s.runs = {{EditOp::kKeep, 0, 0, 5}};  // keeps unequal tokens
  EXPECT_FALSE(verify(s, a, b).is_ok());
  s = good;
  s.target_len = 4;
  EXPECT_FALSE(verify(s, a, b).is_ok());
}

TEST(EditScript, CommonPrefixSuffixHelpers) {
  Seq a = {1, 2, 3, 4}, b = {1, 2, 5, 4};
  EXPECT_EQ(common_prefix(a, b), 2);
  EXPECT_EQ(common_suffix(a, b), 1);
  Seq c = {7, 7, 7};
  Seq d = {7, 7};
  EXPECT_EQ(common_prefix(c, d), 2);
  EXPECT_EQ(common_suffix(c, d, 2), 0);  // never overlaps the prefix
  EXPECT_EQ(common_suffix(c, d), 2);
}

// Random pairs over small alphabets: many matches, many equally long LCS candidates.
TEST(EditScript, PropertyRandomSmallAlphabet) {
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 4000; ++iter) {
    const int alphabet = 1 + static_cast<int>(rng() % 6);
    const int n = static_cast<int>(rng() % 41), m = static_cast<int>(rng() % 41);
    Seq a(n), b(m);
    for (auto& t : a) t = static_cast<int32_t>(rng() % alphabet);
    for (auto& t : b) t = static_cast<int32_t>(rng() % alphabet);
    EditScript s = check_align(a, b);
    ASSERT_FALSE(s.capped);
    ASSERT_EQ(s.kept(), lcs(a, b)) << "iter " << iter << " " << s.to_string();
    if (HasFatalFailure()) return;
  }
}

TEST(EditScript, PropertyMutationsOfBase) {
  std::mt19937 rng(99);
  for (int iter = 0; iter < 2500; ++iter) {
    const int vocab = iter % 2 ? 50 : 5000;
    const int n = static_cast<int>(rng() % 150);
    Seq base(n);
    for (auto& t : base) t = static_cast<int32_t>(rng() % vocab);
    Seq target = mutate(base, rng, static_cast<int>(rng() % 8), vocab);
    EditScript s = check_align(base, target);
    ASSERT_FALSE(s.capped);
    ASSERT_EQ(s.kept(), lcs(base, target)) << "iter " << iter << " " << s.to_string();
    // And the reverse direction.
    EditScript r = check_align(target, base);
    ASSERT_EQ(r.kept(), s.kept());
    if (HasFatalFailure()) return;
  }
}

// The cap: under it, exactly Myers' script; above it, a valid script between the greedy floor and the LCS
// (test_anchored_align.cpp tests the anchored path on larger inputs); without the
// anchor fallback, the common prefix and suffix only.
TEST(EditScript, PropertyCapIsExact) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 3000; ++iter) {
    const int alphabet = 2 + static_cast<int>(rng() % 30);
    const int n = static_cast<int>(rng() % 60), m = static_cast<int>(rng() % 60);
    Seq a(n), b(m);
    for (auto& t : a) t = static_cast<int32_t>(rng() % alphabet);
    if (iter % 2) {
      b = mutate(a, rng, 1 + static_cast<int>(rng() % 5), alphabet);
    } else {
      b.resize(m);
      for (auto& t : b) t = static_cast<int32_t>(rng() % alphabet);
    }
    AlignOptions opt;
    opt.max_edit_distance = static_cast<int32_t>(rng() % 25);
    opt.anchor_fallback = (iter % 3) != 0;
    EditScript s = check_align(a, b, opt);
    const int64_t l = lcs(a, b);
    const int64_t d = static_cast<int64_t>(a.size() + b.size()) - 2 * l;
    const auto ref = myers_align(a, b, opt.max_edit_distance);
    ASSERT_EQ(ref.has_value(), d <= opt.max_edit_distance) << "iter " << iter;
    if (ref) {
      ASSERT_FALSE(s.capped);
      ASSERT_EQ(s.runs, ref->runs) << "iter " << iter << " " << s.to_string() << " vs " << ref->to_string();
      ASSERT_EQ(s.kept(), l);
    } else if (!opt.anchor_fallback) {
      ASSERT_TRUE(s.capped);
      ASSERT_EQ(s.kept(), common_prefix(a, b) + common_suffix(a, b, common_prefix(a, b)));
    } else {
      ASSERT_LE(s.kept(), l);
      ASSERT_GE(s.kept(), test_util::reference_greedy_kept(a, b)) << "iter " << iter;
      ASSERT_GE(s.kept(), common_prefix(a, b) + common_suffix(a, b, common_prefix(a, b)));
    }
    if (HasFatalFailure()) return;
  }
}

TEST(EditScript, AnchorFallbackKeepsMovedParagraphs) {
  // Two long paragraphs of distinct tokens swapped: D = 2 * 300 > cap, but anchors recover the longer one.
  Seq p1, p2;
  for (int i = 0; i < 400; ++i) p1.push_back(1000 + i);
  for (int i = 0; i < 300; ++i) p2.push_back(5000 + i);
  Seq a = p1, b = p2;
  a.insert(a.end(), p2.begin(), p2.end());
  b.insert(b.end(), p1.begin(), p1.end());
  AlignOptions opt;
  opt.max_edit_distance = 100;
  EditScript s = check_align(a, b, opt);
  EXPECT_FALSE(s.capped);  // the gaps around the anchored paragraph are a pure insert and a pure delete
  EXPECT_EQ(s.kept(), 400);
  EXPECT_EQ(s.to_string(), "I300 K400(+300) D300");
  opt.anchor_fallback = false;
  s = check_align(a, b, opt);
  EXPECT_TRUE(s.capped);
  EXPECT_EQ(s.kept(), 0);
  // With a cap above D the result is exact and identical.
  opt.max_edit_distance = 600;
  s = check_align(a, b, opt);
  EXPECT_FALSE(s.capped);
  EXPECT_EQ(s.kept(), 400);
}

TEST(EditScript, AnchorFallbackAlignsGapsBetweenAnchors) {
  // Many scattered small edits over a long sequence exceed a small cap; anchors split it into gaps that are
  // each under the cap, so the result is still close to the LCS.
  std::mt19937 rng(5);
  Seq a(2000);
  for (int i = 0; i < 2000; ++i) a[i] = i;  // all unique
  Seq b = a;
  for (int e = 0; e < 40; ++e) b[rng() % b.size()] = 100000 + e;
  AlignOptions opt;
  opt.max_edit_distance = 10;
  EditScript s = check_align(a, b, opt);
  EXPECT_FALSE(myers_align(a, b, 10).has_value());
  EXPECT_FALSE(s.capped);  // every gap is diffed exactly
  Seq aa(a), bb(b);
  EXPECT_EQ(s.kept(), lcs(aa, bb));  // gaps of one substitution each are solved exactly
}

// Adversarial inputs: must finish quickly because the cap bounds the search (no timing asserted).
TEST(EditScript, AdversarialLongDisjoint) {
  Seq a(8192), b(8192);
  for (int i = 0; i < 8192; ++i) a[i] = i, b[i] = 100000 + i;
  EditScript s = check_align(a, b);
  EXPECT_TRUE(s.capped);
  EXPECT_EQ(s.kept(), 0);
  EXPECT_EQ(s.to_string(), "D8192 I8192 (capped)");
}

TEST(EditScript, AdversarialLongRepeats) {
  std::mt19937 rng(11);
  Seq a(8192), b(8192);
  for (auto& t : a) t = static_cast<int32_t>(rng() % 2);  // binary: D ~ 0.37 * 16k >> cap
  for (auto& t : b) t = static_cast<int32_t>(rng() % 2);
  EditScript s = check_align(a, b);
  EXPECT_TRUE(s.capped);
  // Periodic repeats that never line up: (1 2 3)* vs (3 2 1)*, plus a common prefix and suffix.
  Seq c, d;
  for (int i = 0; i < 2730; ++i) c.insert(c.end(), {1, 2, 3}), d.insert(d.end(), {3, 3, 2, 1});
  c.insert(c.begin(), {9, 9});
  d.insert(d.begin(), {9, 9});
  c.push_back(8);
  d.push_back(8);
  s = check_align(c, d);
  EXPECT_TRUE(s.capped);
  EXPECT_GE(s.kept(), 3);
  // A single repeated token: exact and cheap (only prefix/suffix stripping).
  Seq e(8192, 7), f(8000, 7);
  s = check_align(e, f);
  EXPECT_FALSE(s.capped);
  EXPECT_EQ(s.to_string(), "K8000 D192");
}

TEST(EditScript, LongSequenceWithFewEditsIsExact) {
  std::mt19937 rng(3);
  Seq a(8192);
  for (auto& t : a) t = static_cast<int32_t>(rng() % 32000);
  Seq b = mutate(a, rng, 30, 32000);
  EditScript s = check_align(a, b);
  EXPECT_FALSE(s.capped);
  // Each mutation changes at most 8 tokens per side, so at least n - 30 * 8 * 2 tokens are kept.
  EXPECT_GE(s.kept(), 8192 - 30 * 16);
}

}  // namespace
}  // namespace kvs::align
