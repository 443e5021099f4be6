// Semantic sharing end to end on the real model and embedder: a paraphrased RAG-style prompt reuses the donor's
// KV (shifted), recomputes only a fraction, answers like full computation; other share domains never see it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "engine_fixture.h"

namespace kvs::engine {
namespace {

using namespace testing_engine;

TEST(EngineSemantic, ParaphraseReusesShiftedDonorKv) {
  ASSERT_TRUE(fx().model && fx().tok) << "default model missing: run scripts/fetch_model.sh";
  ASSERT_TRUE(fx().emb) << "embedder missing: run scripts/fetch_embedder.sh";
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  std::string t1, t2, t3, t_full;
  auto donor = run(e, rag("User profile: nurse in Lyon.", "What are the symptoms of diabetes?", 1, ShareMode::kAuto), &t1);
  EXPECT_EQ(donor.usage.share.mode, "full");
  auto shared = run(e, rag("User profile: retired teacher from Ohio, prefers short answers.",
                           "Which signs show diabetes?", 1, ShareMode::kAuto), &t2);
  EXPECT_EQ(shared.usage.share.mode, "semantic") << shared.usage.share.edit_script;
  EXPECT_GT(shared.usage.share.similarity, 0.8);
  EXPECT_GT(shared.usage.cached_tokens, shared.usage.prompt_tokens / 2);
  EXPECT_EQ(shared.usage.cached_tokens + shared.usage.share.recomputed_tokens, shared.usage.prompt_tokens);
  // The same prompt in another share domain: no donor, computed in full.
  auto other = run(e, rag("User profile: retired teacher from Ohio, prefers short answers.",
                          "Which signs show diabetes?", 2, ShareMode::kAuto), &t3);
  EXPECT_NE(other.usage.share.mode, "semantic");
  EXPECT_EQ(other.usage.cached_tokens, 0);
  // Full computation of the same prompt: the semantic answer starts the same way.
  Engine f(*fx().model, *fx().tok, cfg, fx().emb.get());
  run(f, rag("User profile: retired teacher from Ohio, prefers short answers.", "Which signs show diabetes?", 1,
             ShareMode::kFull), &t_full);
  EXPECT_EQ(t3, t_full);
  EXPECT_FALSE(t2.empty());
  EXPECT_EQ(t2.substr(0, 8), t_full.substr(0, 8)) << "semantic: " << t2 << "\nfull: " << t_full;
  std::printf("semantic: similarity %.3f, script %s, reused %lld / %lld, recomputed %lld, deviation median %.3f\n"
              "  semantic text: %s\n  full text:     %s\n",
              shared.usage.share.similarity, shared.usage.share.edit_script.c_str(),
              static_cast<long long>(shared.usage.cached_tokens), static_cast<long long>(shared.usage.prompt_tokens),
              static_cast<long long>(shared.usage.share.recomputed_tokens), shared.usage.share.deviation_median,
              t2.c_str(), t_full.c_str());
  auto m = e.metrics();
  EXPECT_EQ(m.semantic_hits, 1u);
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}


// A short prompt (most of it in its partial last block) lends that block too: the paraphrase reuses the donor's
// tail ("?<|im_end|>\n<|im_start|>assistant\n"), not only its full blocks. The attention-weighted scorer runs the
// same path per request.
TEST(EngineSemantic, ShortDonorsLendTheirTailBlockAndTheAttentionScorerSelects) {
  ASSERT_TRUE(fx().model && fx().tok) << "default model missing: run scripts/fetch_model.sh";
  ASSERT_TRUE(fx().emb) << "embedder missing: run scripts/fetch_embedder.sh";
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  std::string t1, t2;
  auto donor = run(e, chat("What are the symptoms of Graves disease ?", 1), &t1);
  EXPECT_NE(donor.usage.share.mode, "semantic");
  RequestParams p = chat("What are the signs and symptoms of Graves disease?", 1);
  p.share_mode = ShareMode::kSemantic;
  p.deviation = share::DeviationScorer::kAttnV;
  const int64_t n = static_cast<int64_t>(p.prompt.size());
  const int64_t bs = cfg.block_size;
  auto shared = run(e, std::move(p), &t2);
  ASSERT_EQ(shared.usage.share.mode, "semantic") << shared.usage.share.edit_script;
  EXPECT_EQ(shared.usage.share.deviation, "attn-v");
  EXPECT_EQ(shared.usage.cached_tokens + shared.usage.share.recomputed_tokens, n);
  // More reused than the donor's full blocks could give: the tail was lent.
  const int64_t donor_full = static_cast<int64_t>(donor.usage.prompt_tokens) / bs * bs;
  const int64_t kept = static_cast<int64_t>(shared.usage.cached_tokens);
  EXPECT_GT(kept, n / 2);
  int64_t script_kept = 0;
  {  // "K27 I3 K8(+3)": count the kept tokens of the edit script summary
    std::string s = shared.usage.share.edit_script;
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i] == 'K') script_kept += std::strtol(s.c_str() + i + 1, nullptr, 10);
  }
  EXPECT_GT(script_kept, donor_full) << shared.usage.share.edit_script;
  EXPECT_FALSE(t2.empty());
  // The donor's very prompt again: every token but the last comes from the donor (exact KV: same tokens, same
  // positions), so the answer is the donor's, token for token.
  std::string t3;
  RequestParams again = chat("What are the symptoms of Graves disease ?", 1);
  again.share_mode = ShareMode::kSemantic;
  const int64_t n_again = static_cast<int64_t>(again.prompt.size());
  auto same = run(e, std::move(again), &t3);
  ASSERT_EQ(same.usage.share.mode, "semantic") << same.usage.share.edit_script;
  EXPECT_EQ(same.usage.cached_tokens, n_again - 1);
  EXPECT_EQ(same.usage.share.recomputed_tokens, 1);
  EXPECT_EQ(t3, t1);
  std::printf("short paraphrase: script %s, donor %lld tokens (%lld in full blocks), reused %lld / %lld\n",
              shared.usage.share.edit_script.c_str(), static_cast<long long>(donor.usage.prompt_tokens),
              static_cast<long long>(donor_full), static_cast<long long>(kept), static_cast<long long>(n));
  auto m = e.metrics();
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

}  // namespace
}  // namespace kvs::engine
