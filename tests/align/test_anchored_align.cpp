// Anchor-then-diff (align() beyond Myers' cap): equal to Myers under the cap, never below the plain greedy
// match, exact on long inserts and deletes, and the pieces (greedy, LCS table, anchors) against references.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "align/align_testing.h"
#include "align/anchors.h"
#include "align/edit_script.h"
#include "align/greedy.h"
#include "align/lcs_table.h"
#include "align/myers.h"

namespace kvs::align {
namespace {

using test_util::expect_well_formed;
using test_util::lcs;
using test_util::mutate;
using test_util::reference_greedy_keeps;
using test_util::reference_greedy_kept;
using test_util::Seq;
using test_util::zipf_tokens;

Seq uniform_tokens(std::mt19937& rng, int n, int vocab) {
  Seq s(n);
  for (auto& t : s) t = static_cast<int32_t>(rng() % vocab);
  return s;
}

// Adversarial and random pairs for the floor property, family chosen by `kind`.
std::pair<Seq, Seq> hard_pair(std::mt19937& rng, int kind) {
  const int n = 1 + static_cast<int>(rng() % 300);
  switch (kind % 7) {
    case 0: {  // small alphabet, independent
      const int v = 2 + static_cast<int>(rng() % 4);
      return {uniform_tokens(rng, n, v), uniform_tokens(rng, 1 + static_cast<int>(rng() % 300), v)};
    }
    case 1: {  // periodic repeats that never line up
      Seq a, b;
      for (int i = 0; i < n; ++i) a.push_back(1 + i % 3), b.push_back(3 - i % 4 % 3);
      return {a, b};
    }
    case 2: {  // a block repeated in the donor, once in the target, with noise around
      Seq blk = uniform_tokens(rng, 5 + static_cast<int>(rng() % 40), 50), a, b;
      for (int r = 0; r < 4; ++r) {
        Seq noise = uniform_tokens(rng, static_cast<int>(rng() % 30), 50);
        a.insert(a.end(), noise.begin(), noise.end());
        a.insert(a.end(), blk.begin(), blk.end());
      }
      b = uniform_tokens(rng, static_cast<int>(rng() % 60), 50);
      b.insert(b.end(), blk.begin(), blk.end());
      return {a, b};
    }
    case 3: {  // paragraphs shuffled
      std::vector<Seq> paras;
      for (int p = 0; p < 5; ++p) paras.push_back(zipf_tokens(rng, 5 + static_cast<int>(rng() % 60), 200));
      Seq a, b;
      for (const Seq& p : paras) a.insert(a.end(), p.begin(), p.end());
      std::shuffle(paras.begin(), paras.end(), rng);
      for (const Seq& p : paras) b.insert(b.end(), p.begin(), p.end());
      return {a, b};
    }
    case 4: {  // a long insert of same-vocabulary text into a mutated donor
      Seq a = zipf_tokens(rng, n, 300);
      Seq b = mutate(a, rng, static_cast<int>(rng() % 4), 300);
      Seq ins = zipf_tokens(rng, 50 + static_cast<int>(rng() % 400), 300);
      b.insert(b.begin() + static_cast<long>(rng() % (b.size() + 1)), ins.begin(), ins.end());
      return {a, b};
    }
    case 5: {  // heavy mutation of a text-like base
      Seq a = zipf_tokens(rng, n, 100);
      return {a, mutate(a, rng, 5 + static_cast<int>(rng() % 40), 100)};
    }
    default: {  // reversed
      Seq a = uniform_tokens(rng, n, 1 + static_cast<int>(rng() % 400));
      Seq b(a.rbegin(), a.rend());
      return {a, b};
    }
  }
}

TEST(AnchoredAlign, PropertySameScriptAsMyersUnderTheCap) {
  std::mt19937 rng(2024);
  int compared = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    const int n = static_cast<int>(rng() % 400);
    const int vocab = 1 + static_cast<int>(rng() % (iter % 2 ? 500 : 40));
    Seq a = iter % 2 ? zipf_tokens(rng, n, vocab) : uniform_tokens(rng, n, vocab);
    Seq b = mutate(a, rng, static_cast<int>(rng() % 30), 60);
    AlignOptions opt;
    opt.max_edit_distance = static_cast<int32_t>(rng() % 120);
    const EditScript s = align(a, b, opt);
    expect_well_formed(s, a, b);
    const auto ref = myers_align(a, b, opt.max_edit_distance);
    if (ref) {
      ++compared;
      ASSERT_FALSE(s.capped);
      ASSERT_EQ(s.runs, ref->runs) << "iter " << iter;
    }
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(compared, 300);  // both sides of the cap are exercised
  EXPECT_LT(compared, 1400);
}

TEST(AnchoredAlign, PropertyNeverBelowTheGreedyMatch) {
  std::mt19937 rng(31337);
  int capped = 0, below_lcs = 0;
  for (int iter = 0; iter < 1400; ++iter) {
    auto [a, b] = hard_pair(rng, iter);
    AlignOptions opt;
    opt.max_edit_distance = static_cast<int32_t>(rng() % 40);
    opt.max_table_cells = static_cast<int64_t>(rng() % 3) * 200;  // small tables: reach anchors and greedy
    const EditScript s = align(a, b, opt);
    expect_well_formed(s, a, b);
    const int64_t g = reference_greedy_kept(a, b);
    const int64_t l = lcs(a, b);
    ASSERT_GE(s.kept(), g) << "iter " << iter << " kind " << iter % 7 << " " << s.to_string();
    ASSERT_LE(s.kept(), l);
    capped += s.capped;
    below_lcs += s.kept() < l;
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(capped, 50);      // the greedy path itself is exercised
  EXPECT_GT(below_lcs, 50);   // and the inputs are hard enough to leave the LCS
}

TEST(AnchoredAlign, AdversarialLongInputsStayAboveGreedy) {
  std::mt19937 rng(8);
  std::vector<std::pair<Seq, Seq>> cases;
  cases.push_back({uniform_tokens(rng, 4000, 2), uniform_tokens(rng, 4000, 2)});  // binary
  Seq c, d;
  for (int i = 0; i < 1500; ++i) c.insert(c.end(), {1, 2, 3}), d.insert(d.end(), {3, 3, 2, 1});
  cases.push_back({c, d});
  Seq blk = zipf_tokens(rng, 700, 50);  // a long repeated block: no unique window inside it
  Seq e = blk, f = zipf_tokens(rng, 1500, 50);
  e.insert(e.end(), blk.begin(), blk.end());
  f.insert(f.end(), blk.begin(), blk.end());
  cases.push_back({e, f});
  for (const auto& [a, b] : cases) {
    const EditScript s = align(a, b);
    expect_well_formed(s, a, b);
    EXPECT_GE(s.kept(), reference_greedy_kept(a, b)) << s.to_string(8);
  }
}

// The case, generalised: donor = P + Q, prompt = P + (long new text) + Q', where Q' is Q with a few
// substitutions (one just before the end, so the common suffix is short) and the new text shares the donor's
// vocabulary. Myers with the cap keeps only P and the short suffix; anchors keep all of Q' that matches.
TEST(AnchoredAlign, LongInsertIsAlignedExactly) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    const Seq donor = zipf_tokens(rng, 467, 2000);
    Seq prompt(donor.begin(), donor.begin() + 24);
    const Seq fresh = zipf_tokens(rng, 1051, 2000);
    prompt.insert(prompt.end(), fresh.begin(), fresh.end());
    prompt.insert(prompt.end(), donor.begin() + 24, donor.end());
    for (int p : {24 + 1051 + 100, 24 + 1051 + 250, 1518 - 27}) prompt[p] = 5000 + p;  // new ids
    ASSERT_EQ(prompt.size(), 1518u);
    EXPECT_FALSE(myers_align(donor, prompt, 1024).has_value());
    const EditScript s = align(donor, prompt);
    expect_well_formed(s, donor, prompt);
    EXPECT_FALSE(s.capped) << "seed " << seed << " " << s.to_string();
    EXPECT_EQ(s.kept(), lcs(donor, prompt)) << "seed " << seed << " " << s.to_string();
    EXPECT_EQ(s.kept(), 464) << "seed " << seed;
    // And the mirror: the prompt drops a long passage of the donor.
    const EditScript r = align(prompt, donor);
    expect_well_formed(r, prompt, donor);
    EXPECT_FALSE(r.capped);
    EXPECT_EQ(r.kept(), 464) << "seed " << seed;
    if (HasFatalFailure()) return;
  }
}

TEST(AnchoredAlign, ManyEditsOnLongSequencesStayNearTheLcs) {
  std::mt19937 rng(77);
  const Seq a = zipf_tokens(rng, 3000, 32000);
  Seq b = a;
  for (int e = 0; e < 700; ++e) {  // single-token edits, D well above the cap
    const size_t pos = rng() % b.size();
    switch (rng() % 3) {
      case 0: b[pos] = static_cast<int32_t>(40000 + e); break;
      case 1: b.insert(b.begin() + static_cast<long>(pos), static_cast<int32_t>(40000 + e)); break;
      default: b.erase(b.begin() + static_cast<long>(pos)); break;
    }
  }
  AlignOptions opt;
  opt.max_edit_distance = 256;
  EXPECT_FALSE(myers_align(a, b, 256).has_value());
  const EditScript s = align(a, b, opt);
  expect_well_formed(s, a, b);
  const int64_t l = lcs(a, b);
  EXPECT_FALSE(s.capped);
  EXPECT_GE(s.kept(), l - l / 100) << s.kept() << " vs LCS " << l;  // within 1% of the LCS
}

TEST(GreedyAlign, MatchesTheBruteForceDefinition) {
  std::mt19937 rng(5);
  for (int iter = 0; iter < 2000; ++iter) {
    auto [a, b] = hard_pair(rng, iter);
    const EditScript s = greedy_align(a, b);
    expect_well_formed(s, a, b);
    std::vector<EditRun> keeps;
    for (const EditRun& r : s.runs)
      if (r.op == EditOp::kKeep) keeps.push_back(r);
    // Runs the reference found back to back on one diagonal are one run in a canonical script.
    std::vector<EditRun> ref;
    for (const EditRun& r : reference_greedy_keeps(a, b)) {
      if (!ref.empty() && ref.back().src + ref.back().n == r.src && ref.back().dst + ref.back().n == r.dst)
        ref.back().n += r.n;
      else
        ref.push_back(r);
    }
    ASSERT_EQ(keeps, ref) << "iter " << iter;
    if (HasFatalFailure()) return;
  }
}

TEST(GreedyAlign, HandExamples) {
  EXPECT_EQ(greedy_align(Seq{1, 2, 3}, Seq{1, 2, 3}).to_string(), "K3");
  EXPECT_EQ(greedy_align(Seq{1, 2, 3}, Seq{9, 2, 3}).to_string(), "D1 I1 K2");
  // The first target token found in the donor wins, even when a later one would keep more.
  EXPECT_EQ(greedy_align(Seq{5, 1, 2, 3, 4}, Seq{4, 1, 2, 3}).to_string(), "D4 K1(-4) I3");
  EXPECT_EQ(greedy_align(Seq{}, Seq{1}).to_string(), "I1");
  EXPECT_EQ(greedy_align(Seq{1}, Seq{}).to_string(), "D1");
}

TEST(LcsTable, ExactAndRespectsItsLimit) {
  std::mt19937 rng(12);
  for (int iter = 0; iter < 1500; ++iter) {
    const int v = 1 + static_cast<int>(rng() % 8);
    const Seq a = uniform_tokens(rng, static_cast<int>(rng() % 50), v);
    const Seq b = uniform_tokens(rng, static_cast<int>(rng() % 50), v);
    detail::RawScript raw;
    ASSERT_TRUE(detail::table_diff(a.data(), static_cast<int64_t>(a.size()), b.data(),
                                   static_cast<int64_t>(b.size()), 2500, &raw));
    EditScript s;
    s.donor_len = static_cast<int32_t>(a.size());
    s.target_len = static_cast<int32_t>(b.size());
    s.runs = detail::canonical_runs(raw.ops());
    ASSERT_TRUE(verify(s, a, b).is_ok());
    ASSERT_EQ(s.kept(), lcs(a, b)) << "iter " << iter;
  }
  Seq a(100, 1), b(100, 2);
  detail::RawScript raw;
  EXPECT_FALSE(detail::table_diff(a.data(), 100, b.data(), 100, 9999, &raw));
  EXPECT_TRUE(raw.ops().empty());
}

TEST(Anchors, ChainIsOrderedDisjointAndMatches) {
  std::mt19937 rng(4);
  for (int iter = 0; iter < 800; ++iter) {
    auto [a, b] = hard_pair(rng, iter);
    for (int32_t k : {1, 3, 8}) {
      const auto chain = detail::unique_window_chain(a.data(), static_cast<int64_t>(a.size()), b.data(),
                                                     static_cast<int64_t>(b.size()), k);
      int64_t ea = 0, eb = 0;
      for (const detail::Segment& g : chain) {
        ASSERT_GT(g.n, 0);
        ASSERT_GE(g.a, ea);
        ASSERT_GE(g.b, eb);
        ASSERT_LE(g.a + g.n, static_cast<int64_t>(a.size()));
        ASSERT_LE(g.b + g.n, static_cast<int64_t>(b.size()));
        for (int64_t t = 0; t < g.n; ++t) ASSERT_EQ(a[g.a + t], b[g.b + t]);
        ea = g.a + g.n;
        eb = g.b + g.n;
      }
    }
  }
  // Unique windows only: a window repeated on either side is never an anchor.
  const Seq a = {1, 2, 3, 1, 2, 3, 9}, b = {1, 2, 3, 9};
  const auto chain = detail::unique_window_chain(a.data(), 7, b.data(), 4, 3);
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0].a, 4);  // "2 3 9"
  EXPECT_EQ(chain[0].b, 1);
  EXPECT_EQ(chain[0].n, 3);
}

}  // namespace
}  // namespace kvs::align
