// The donation policy end to end on the real model: a prompt carrying a secret donates (and publishes) only the
// KV before it, so another user of the same share domain can reuse the question but never KV computed after the
// secret, and never sees the secret in an answer; a prompt that opts out lends nothing at all.
#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "engine_fixture.h"

namespace kvs::engine {
namespace {

using namespace testing_engine;

// Donor-side tokens an edit script covers ("K27 D3 I5 K8(+3)": kept and deleted tokens come from the donor).
int64_t donor_side_tokens(const std::string& script) {
  int64_t n = 0;
  for (size_t i = 0; i + 1 < script.size(); ++i)
    if ((script[i] == 'K' || script[i] == 'D') && std::isdigit(static_cast<unsigned char>(script[i + 1])))
      n += std::stoll(script.substr(i + 1));
  return n;
}

std::string decode(std::span<const int32_t> ids) { return fx().tok->decode(ids); }

TEST(EngineDonation, SecretsAreNeverLentAndShareableTokensStopRightBeforeThem) {
  ASSERT_TRUE(fx().model && fx().tok) << "default model missing: run scripts/fetch_model.sh";
  ASSERT_TRUE(fx().emb) << "embedder missing: run scripts/fetch_embedder.sh";
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  const std::string secret = "Zorblat Quixley";
  const std::string question =
      "What are the symptoms of Graves disease ? I feel tired and my heart races at night, and my hands shake. "
      "My name is " + secret + ".";
  RequestParams a = chat(question, 1, 4);
  const std::vector<int32_t> a_prompt = a.prompt;
  std::string ta;
  auto donor = run(e, std::move(a), &ta);
  ASSERT_EQ(donor.finish_reason, "length");
  const int64_t limit = donor.usage.share.shareable_tokens;
  EXPECT_EQ(donor.usage.share.donation_limit, "name");
  ASSERT_GT(limit, 16);
  ASSERT_LT(limit, static_cast<int64_t>(a_prompt.size()));
  // The shareable prefix is the longest one whose text holds nothing of the secret.
  const std::string kept = decode(std::span<const int32_t>(a_prompt.data(), limit));
  const std::string one_more = decode(std::span<const int32_t>(a_prompt.data(), limit + 1));
  EXPECT_EQ(kept.find('Z'), std::string::npos) << kept;
  EXPECT_NE(one_more.find('Z'), std::string::npos) << one_more;

  // Another user of the domain asks the same question in other words: semantic reuse, within the limit only.
  std::string tb;
  RequestParams b = chat("Which symptoms does Graves disease cause? I feel tired and my heart races at night, "
                         "and my hands shake.", 1, 24);
  b.share_mode = ShareMode::kSemantic;
  auto shared = run(e, std::move(b), &tb);
  ASSERT_EQ(shared.usage.share.mode, "semantic") << shared.usage.share.edit_script;
  EXPECT_GT(shared.usage.cached_tokens, 16);
  EXPECT_LE(donor_side_tokens(shared.usage.share.edit_script), limit) << shared.usage.share.edit_script;
  EXPECT_EQ(tb.find("Zorblat"), std::string::npos) << tb;
  EXPECT_EQ(tb.find("Quixley"), std::string::npos) << tb;

  // The exact same prompt again: the prefix cache holds only blocks before the secret.
  std::string tc;
  auto again = run(e, chat(question, 1, 4), &tc);
  EXPECT_GT(again.usage.cached_tokens, 0);
  EXPECT_LE(again.usage.cached_tokens, limit);
}

TEST(EngineDonation, AnOptedOutPromptLendsNothing) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb);
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  RequestParams a = chat("What are the symptoms of Graves disease ?", 7, 4);
  a.donate = false;
  std::string ta, tb, tc;
  auto donor = run(e, std::move(a), &ta);
  EXPECT_EQ(donor.usage.share.shareable_tokens, 0);
  EXPECT_EQ(donor.usage.share.donation_limit, "opt-out");
  // Neither a paraphrase nor the identical prompt finds anything to reuse (not even the template's prefix).
  auto para = run(e, chat("What are the signs and symptoms of Graves disease?", 7, 4), &tb);
  EXPECT_NE(para.usage.share.mode, "semantic");
  EXPECT_EQ(para.usage.cached_tokens, 0);
  auto m = e.metrics();
  EXPECT_EQ(m.semantic_hits, 0u);
  // The same prompt with donation on (the default) does lend: the opt-out was what stopped it.
  Engine f(*fx().model, *fx().tok, cfg, fx().emb.get());
  run(f, chat("What are the symptoms of Graves disease ?", 7, 4), &tc);
  auto para2 = run(f, chat("What are the signs and symptoms of Graves disease?", 7, 4), &tc);
  EXPECT_GT(para2.usage.cached_tokens, 0);
}

}  // namespace
}  // namespace kvs::engine
