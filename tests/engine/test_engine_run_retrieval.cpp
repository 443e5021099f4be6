// Run retrieval end to end on the real model and embedder (issue 9): a prompt that repeats an earlier prompt's
// passage under another preamble and question finds that donor by the token runs they share, without embedding
// the prompt first. The reference is the embedding path of the same engine configuration: with the same donor
// found, the plan, the reused tokens and the greedy answer are the same; only the embedding moves after the
// first token (the request still donates once its KV is repaired to exact).
#include <gtest/gtest.h>

#include "engine/sharing_defaults.h"
#include "engine_fixture.h"

namespace kvs::engine {
namespace {

using namespace testing_engine;

EngineConfig config(double run_retrieval) {
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  cfg.repair_rows = 64;  // the shared request becomes exact within a few steps, then donates
  cfg.run_retrieval = run_retrieval;
  return cfg;
}

TEST(EngineRunRetrieval, ASharedPassageIsFoundWithoutEmbedding) {
  ASSERT_TRUE(fx().model && fx().tok) << "default model missing: run scripts/fetch_model.sh";
  ASSERT_TRUE(fx().emb) << "embedder missing: run scripts/fetch_embedder.sh";
  const RequestParams donor = rag("I am a nurse in Lyon.", "What are the symptoms of diabetes?", 7, ShareMode::kAuto);
  const RequestParams probe =
      rag("I am a retired farmer from Porto and I prefer short answers.", "What causes diabetes?", 7, ShareMode::kAuto);
  const RequestParams other = chat("Which planet is the largest in the solar system?", 7, 8);

  Engine e(*fx().model, *fx().tok, config(SharingDefaults::kRunRetrieval), fx().emb.get());
  std::string t_donor, t_probe, t_other;
  const auto d = run(e, donor, &t_donor);
  ASSERT_NE(d.usage.share.mode, "semantic");
  EXPECT_GT(d.usage.embed_ms, 0.0);  // no donor by runs yet: embedded before its first token, as always
  const auto p = run(e, probe, &t_probe);
  const ShareReport& rep = p.usage.share;
  ASSERT_EQ(rep.mode, "semantic") << rep.edit_script;
  EXPECT_EQ(rep.retrieval, "runs");
  EXPECT_EQ(p.usage.embed_ms, 0.0);
  const auto passage = fx().tok->encode(kPassage).value();
  EXPECT_GE(rep.reused_tokens, static_cast<int64_t>(passage.size()) * 8 / 10) << rep.edit_script;
  EXPECT_GE(rep.repaired_after_tokens, 0);
  auto m = e.metrics();
  EXPECT_EQ(m.run_retrievals, 1u);
  EXPECT_EQ(m.donors, 2);  // the probe donated after its repair: its embedding was computed then
  // A prompt sharing no passage is embedded before its first token, as without run retrieval.
  const auto o = run(e, other, &t_other);
  EXPECT_NE(o.usage.share.retrieval, "runs");
  EXPECT_GT(o.usage.embed_ms, 0.0);
  EXPECT_EQ(e.metrics().run_retrievals, 1u);

  // The embedding path finds the same donor: same plan, same reuse, same greedy answer.
  Engine ref(*fx().model, *fx().tok, config(0.0), fx().emb.get());
  std::string r_donor, r_probe;
  run(ref, donor, &r_donor);
  const auto rp = run(ref, probe, &r_probe);
  ASSERT_EQ(rp.usage.share.mode, "semantic");
  EXPECT_EQ(rp.usage.share.retrieval, "embedding");
  EXPECT_GT(rp.usage.share.similarity, 0.0);
  EXPECT_GT(rp.usage.embed_ms, 0.0);
  EXPECT_EQ(rp.usage.share.edit_script, rep.edit_script);
  EXPECT_EQ(rp.usage.share.reused_tokens, rep.reused_tokens);
  EXPECT_EQ(rp.usage.share.recomputed_tokens, rep.recomputed_tokens);
  EXPECT_EQ(r_probe, t_probe);
  EXPECT_EQ(ref.metrics().run_retrievals, 0u);
}

}  // namespace
}  // namespace kvs::engine
