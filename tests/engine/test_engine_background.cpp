// Background repair on the real model: a prompt served semantically (approximate, so it cannot donate) is made
// exact while the engine is idle, then publishes and donates, so later prompts reuse its new content; it retires
// the donor it contained; and a waiting request drops pending repairs instead of waiting behind them.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "engine_fixture.h"

namespace kvs::engine {
namespace {

using namespace testing_engine;

const std::string kExtra =
    " Also explain which blood tests confirm the diagnosis, how often they should be repeated, what a normal "
    "result looks like, and which lifestyle changes lower the risk of complications over the years.";

// Polls the engine's metrics until pred holds (bounded: 120 s).
template <typename Pred>
MetricsSnapshot wait_for(const Engine& e, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (;;) {
    auto m = e.metrics();
    if (pred(m) || std::chrono::steady_clock::now() > deadline) return m;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

EngineConfig background_config() {
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  cfg.background_repair_rows = 32;
  return cfg;
}

std::string user_text(const std::string& preamble, const std::string& question) {
  return preamble + "\nReference passage:\n" + kPassage + "\nQuestion: " + question;
}

TEST(EngineBackground, ARepairedPromptDonatesItsNewContentAndRetiresTheDonorItContains) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb) << "model or embedder missing";
  Engine e(*fx().model, *fx().tok, background_config(), fx().emb.get());
  const std::string base = user_text("User profile: nurse in Lyon.", "What are the symptoms of diabetes?");
  std::string t;
  auto d1 = run(e, chat(base, 1, 4), &t);
  ASSERT_NE(d1.usage.share.mode, "semantic");
  // The same text with a new sentence appended inside the user turn: served from d1, approximate.
  RequestParams s = chat(base + kExtra, 1, 4);
  s.share_mode = ShareMode::kSemantic;
  const std::vector<int32_t> s_prompt = s.prompt;
  auto grown = run(e, std::move(s), &t);
  ASSERT_EQ(grown.usage.share.mode, "semantic") << grown.usage.share.edit_script;
  EXPECT_EQ(grown.usage.share.edit_script.find('D'), std::string::npos) << grown.usage.share.edit_script;
  auto m = wait_for(e, [](const MetricsSnapshot& m) { return m.background_repairs >= 1; });
  ASSERT_EQ(m.background_repairs, 1u);
  EXPECT_EQ(m.background_pending, 0);
  EXPECT_EQ(m.donors_retired, 1u);  // d1's whole prompt is inside the new donor
  EXPECT_EQ(m.donors, 1);
  m = wait_for(e, [](const MetricsSnapshot& m) { return m.kv_blocks_free == m.kv_blocks_total; });
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);

  // A paraphrase of the grown prompt reuses more tokens than d1 has: only the repaired prompt could lend them.
  RequestParams p = chat(user_text("User profile: nurse in Paris.", "What are the symptoms of diabetes?") + kExtra, 1, 4);
  p.share_mode = ShareMode::kSemantic;
  auto para = run(e, std::move(p), &t);
  ASSERT_EQ(para.usage.share.mode, "semantic");
  EXPECT_GT(para.usage.cached_tokens, d1.usage.prompt_tokens) << para.usage.share.edit_script;

  // The repaired prompt's published blocks are exact: the same prompt again hits them in the prefix cache and
  // decodes exactly what a fresh engine computing it in full decodes.
  std::string t_again, t_full;
  RequestParams again = chat(base + kExtra, 1, 24);
  again.share_mode = ShareMode::kPrefix;
  auto hit = run(e, std::move(again), &t_again);
  const int64_t bs = 16;
  EXPECT_GE(hit.usage.cached_tokens, static_cast<int64_t>(s_prompt.size()) / bs * bs - bs);
  Engine f(*fx().model, *fx().tok, EngineConfig{}, fx().emb.get());
  RequestParams full = chat(base + kExtra, 1, 24);
  full.share_mode = ShareMode::kFull;
  run(f, std::move(full), &t_full);
  EXPECT_EQ(t_again, t_full);
}

TEST(EngineBackground, AWaitingRequestDropsPendingRepairs) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb);
  EngineConfig cfg = background_config();
  cfg.background_repair_rows = 4;  // many idle steps to go: the next request arrives before they are done
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  const std::string base = user_text("User profile: nurse in Lyon.", "What are the symptoms of diabetes?");
  std::string t;
  run(e, chat(base, 1, 2), &t);
  RequestParams s = chat(base + kExtra, 1, 2);
  s.share_mode = ShareMode::kSemantic;
  auto grown = run(e, std::move(s), &t);
  ASSERT_EQ(grown.usage.share.mode, "semantic");
  run(e, chat("How is asthma treated?", 1, 2), &t);  // submitted right after the final event
  auto m = wait_for(e, [](const MetricsSnapshot& m) { return m.background_pending == 0; });
  EXPECT_EQ(m.background_repairs, 0u);
  EXPECT_GE(m.background_dropped, 1u);
  m = wait_for(e, [](const MetricsSnapshot& m) { return m.kv_blocks_free == m.kv_blocks_total; });
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

}  // namespace
}  // namespace kvs::engine
