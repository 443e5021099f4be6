// Fragments from several donors end to end on the real model and embedder (issue 10): a prompt made of two
// passages that came from two different earlier prompts reuses both (each donor's run copied and re-rotated to
// its new position), lists both donors in its sharing report, and answers like full computation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "engine_fixture.h"

namespace kvs::engine {
namespace {

using namespace testing_engine;

const char* kPassage2 =
    "Glaucoma is a group of diseases that can damage the eye's optic nerve and result in vision loss and "
    "blindness. The most common form, open-angle glaucoma, happens when the fluid pressure inside the eye slowly "
    "rises. Without treatment, people with glaucoma slowly lose their peripheral, or side, vision. Over time, "
    "straight-ahead vision may decrease until no vision remains. Anyone can develop glaucoma, but African "
    "Americans over age 40, everyone over age 60, and people with a family history of the disease are at higher "
    "risk. A comprehensive dilated eye exam can reveal signs of glaucoma, and treatment with eye drops, laser "
    "surgery or conventional surgery can slow its progress.";

RequestParams one_passage(const std::string& passage, const std::string& question) {
  return chat("Reference passage:\n" + passage + "\n\nQuestion: " + question, 7, 8);
}

RequestParams two_passages(const std::string& question, ShareMode mode) {
  RequestParams p = chat(std::string("Reference passages:\n") + kPassage + "\n\n" + kPassage2 +
                             "\n\nQuestion: " + question,
                         7, 8);
  p.share_mode = mode;
  return p;
}

// Tokens of `needle` (tokenized alone, without its first and last token: BPE merges differ at the seams) found
// as a contiguous run in `hay`.
bool contains_run(const std::vector<int32_t>& hay, const std::vector<int32_t>& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin() + 1, needle.end() - 1) != hay.end();
}

TEST(EngineFragments, TwoPassagesFromTwoDonorsAreBothReused) {
  ASSERT_TRUE(fx().model && fx().tok) << "default model missing: run scripts/fetch_model.sh";
  ASSERT_TRUE(fx().emb) << "embedder missing: run scripts/fetch_embedder.sh";
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  cfg.fragments = true;  // off by default (fidelity on recombined prompts: docs/eval/growing_test_n48.md)
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  std::string ta, tb, tc, t_full;
  auto a = run(e, one_passage(kPassage, "What are the symptoms of diabetes?"), &ta);
  auto b = run(e, one_passage(kPassage2, "Who is at higher risk of glaucoma?"), &tb);
  ASSERT_NE(a.usage.share.mode, "semantic");
  ASSERT_NE(b.usage.share.mode, "semantic");

  const RequestParams probe = two_passages("Can diabetes or glaucoma cause blindness?", ShareMode::kAuto);
  const std::vector<int32_t> prompt = probe.prompt;
  auto c = run(e, probe, &tc);
  const ShareReport& rep = c.usage.share;
  ASSERT_EQ(rep.mode, "semantic") << rep.edit_script;
  ASSERT_EQ(rep.donors.size(), 2u) << rep.edit_script;
  EXPECT_NE(rep.donors[0].donor_id, rep.donors[1].donor_id);

  // Each passage's tokens (tokenized alone) are in the prompt; the runs of one donor together cover most of one
  // passage, the other donor's most of the other.
  const auto p1 = fx().tok->encode(kPassage).value();
  const auto p2 = fx().tok->encode(kPassage2).value();
  ASSERT_TRUE(contains_run(prompt, p1) && contains_run(prompt, p2));
  std::vector<int64_t> tokens;
  for (const auto& d : rep.donors) tokens.push_back(d.tokens);
  std::sort(tokens.begin(), tokens.end());
  const int64_t shorter = static_cast<int64_t>(std::min(p1.size(), p2.size()));
  EXPECT_GE(tokens[0], shorter * 8 / 10) << "donor runs: " << tokens[0] << " and " << tokens[1];
  EXPECT_GE(rep.reused_tokens, static_cast<int64_t>(p1.size() + p2.size()) * 7 / 10);
  EXPECT_EQ(c.usage.cached_tokens + rep.recomputed_tokens, static_cast<int64_t>(prompt.size()));

  // Full computation of the same prompt: the answer starts the same way (greedy).
  Engine f(*fx().model, *fx().tok, cfg, fx().emb.get());
  auto full = run(f, two_passages("Can diabetes or glaucoma cause blindness?", ShareMode::kFull), &t_full);
  ASSERT_FALSE(tc.empty());
  std::vector<int32_t> tok_c = fx().tok->encode(tc).value(), tok_f = fx().tok->encode(t_full).value();
  ASSERT_GE(tok_f.size(), 4u);
  ASSERT_GE(tok_c.size(), 4u) << tc;
  EXPECT_TRUE(std::equal(tok_f.begin(), tok_f.begin() + 4, tok_c.begin()))
      << "fragments: " << tc << "\nfull:      " << t_full;
  std::printf("two donors: reused %lld / %lld (donor runs %lld + %lld tokens), recomputed %lld, script %s\n"
              "  fragments text: %s\n  full text:      %s\n",
              static_cast<long long>(rep.reused_tokens), static_cast<long long>(prompt.size()),
              static_cast<long long>(tokens[0]), static_cast<long long>(tokens[1]),
              static_cast<long long>(rep.recomputed_tokens), rep.edit_script.c_str(), tc.c_str(), t_full.c_str());

  // Without fragments only one donor lends: the other passage is recomputed.
  EngineConfig one = cfg;
  one.fragments = false;
  Engine s(*fx().model, *fx().tok, one, fx().emb.get());
  std::string x;
  run(s, one_passage(kPassage, "What are the symptoms of diabetes?"), &x);
  run(s, one_passage(kPassage2, "Who is at higher risk of glaucoma?"), &x);
  auto single = run(s, two_passages("Can diabetes or glaucoma cause blindness?", ShareMode::kAuto), &x);
  EXPECT_LE(single.usage.share.donors.size(), 1u);
  EXPECT_GT(rep.reused_tokens, single.usage.share.reused_tokens + shorter / 2);
  auto m = e.metrics();
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

// The fragment budget (PlannerConfig::fragment_ratio): the fragment runs' candidates are ranked apart and 0.5 of
// them recomputed, so the same recombined prompt recomputes about (0.5 - 0.15) of those runs more than with one
// ranking at r, and still answers like full computation.
TEST(EngineFragments, FragmentBudgetRecomputesMoreOfTheFragmentRun) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb) << "model or embedder missing: run scripts/fetch_model.sh and fetch_embedder.sh";
  const auto serve_recombined = [](double fragment_ratio, std::string* text) {
    EngineConfig cfg;
    cfg.kv_cache_mib = 64;
    cfg.fragments = true;
    cfg.planner.fragment_ratio = fragment_ratio;
    Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
    std::string x;
    run(e, one_passage(kPassage, "What are the symptoms of diabetes?"), &x);
    run(e, one_passage(kPassage2, "Who is at higher risk of glaucoma?"), &x);
    return run(e, two_passages("Can diabetes or glaucoma cause blindness?", ShareMode::kAuto), text).usage.share;
  };
  std::string t_one, t_apart, t_full;
  const ShareReport one = serve_recombined(-1.0, &t_one);
  const ShareReport apart = serve_recombined(0.5, &t_apart);
  ASSERT_EQ(one.mode, "semantic");
  ASSERT_EQ(apart.mode, "semantic");
  ASSERT_EQ(apart.donors.size(), 2u);
  ASSERT_EQ(one.donors.size(), 2u);
  int64_t frag = 0;  // tokens of the fragment runs (here every run: no donor is similar to the whole prompt)
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(apart.donors[i].tokens, one.donors[i].tokens);  // the same cover: only the selection differs
    frag += apart.donors[i].tokens;
  }
  ASSERT_GT(frag, 128);
  // Candidates = the runs minus the exact template prefix (< 64 tokens); (0.5 - 0.15) of them is > a quarter.
  std::printf("fragment runs %lld tokens: recomputed %lld (budget 0.5) vs %lld (r)\n", static_cast<long long>(frag),
              static_cast<long long>(apart.recomputed_tokens), static_cast<long long>(one.recomputed_tokens));
  EXPECT_GE(apart.recomputed_tokens - one.recomputed_tokens, (frag - 64) / 4)
      << "recomputed " << apart.recomputed_tokens << " vs " << one.recomputed_tokens << " (fragment run " << frag << ")";
  EXPECT_EQ(apart.reused_tokens + apart.recomputed_tokens, one.reused_tokens + one.recomputed_tokens);
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  Engine f(*fx().model, *fx().tok, cfg, fx().emb.get());
  run(f, two_passages("Can diabetes or glaucoma cause blindness?", ShareMode::kFull), &t_full);
  std::vector<int32_t> tok_a = fx().tok->encode(t_apart).value(), tok_f = fx().tok->encode(t_full).value();
  ASSERT_GE(tok_f.size(), 4u);
  ASSERT_GE(tok_a.size(), 4u) << t_apart;
  EXPECT_TRUE(std::equal(tok_f.begin(), tok_f.begin() + 4, tok_a.begin())) << t_apart << "\nfull: " << t_full;
}

}  // namespace
}  // namespace kvs::engine
