// Scoring through the engine on the real model (RequestParams::logprobs / prompt_logprobs): the prompt's scores
// are the same whether the prompt is prefilled in one chunk or in many, alone or batched with another request,
// and whether its prefix is cached (echo scoring computes the prompt in full); every prompt token is scored
// once, in order, and the generated token's score comes from the same raw logits.
// (The values themselves are checked against transformers in tests/python/test_server_api.py.)
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine_fixture.h"

namespace kvs::engine {
namespace {

using testing_engine::fx;

struct Scored {
  std::vector<TokenLogprob> prompt, generated;
  std::vector<int32_t> tokens;
  Usage usage;
};

Scored collect(const std::shared_ptr<RequestHandle>& h) {
  Scored s;
  int prompt_events = 0;
  for (;;) {
    auto ev = h->next(std::chrono::seconds(120));
    if (!ev) break;
    if (!ev->prompt_logprobs.empty()) {
      ++prompt_events;
      s.prompt = ev->prompt_logprobs;
    }
    s.generated.insert(s.generated.end(), ev->logprobs.begin(), ev->logprobs.end());
    s.tokens.insert(s.tokens.end(), ev->tokens.begin(), ev->tokens.end());
    if (ev->finished) {
      s.usage = ev->usage;
      break;
    }
  }
  EXPECT_LE(prompt_events, 1) << "prompt scores sent twice";
  return s;
}

RequestParams scored(const std::string& text, int32_t top) {
  RequestParams p = testing_engine::chat(text, /*domain=*/7, /*max_tokens=*/4);
  p.share_text.clear();
  p.logprobs = top;
  p.prompt_logprobs = true;
  return p;
}

void expect_same(const std::vector<TokenLogprob>& a, const std::vector<TokenLogprob>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].token, b[i].token) << what << " " << i;
    EXPECT_EQ(a[i].logprob, b[i].logprob) << what << " " << i;  // batch-invariant kernels: the same bits
    EXPECT_EQ(a[i].top, b[i].top) << what << " " << i;
  }
}

TEST(EngineLogprobs, PromptScoresDoNotDependOnChunksBatchesOrTheCache) {
  ASSERT_TRUE(fx().model && fx().tok) << "default model not found: run scripts/fetch_model.sh or set KVS_MODEL";
  EngineConfig one_chunk;
  one_chunk.kv_cache_mib = 64;
  EngineConfig chunked = one_chunk;
  chunked.max_batch_tokens = 24;  // the prompt takes several steps, interleaved with the other request
  const RequestParams p = scored(std::string("Summarise in one line: ") + testing_engine::kPassage, 3);
  ASSERT_GT(p.prompt.size(), 3u * 24u);

  Scored alone;
  {
    Engine e(*fx().model, *fx().tok, one_chunk);
    alone = collect(e.submit(p).value());
    // Prefix now cached: echo scoring still computes (and scores) the whole prompt.
    Scored again = collect(e.submit(p).value());
    EXPECT_EQ(again.usage.cached_tokens, 0);
    EXPECT_EQ(again.usage.computed_prompt_tokens, static_cast<int64_t>(p.prompt.size()));
    expect_same(again.prompt, alone.prompt, "cached prefix");
  }
  ASSERT_EQ(alone.prompt.size(), p.prompt.size() - 1);
  for (size_t i = 0; i < alone.prompt.size(); ++i) {
    EXPECT_EQ(alone.prompt[i].token, p.prompt[i + 1]) << i;
    EXPECT_LE(alone.prompt[i].logprob, 0.0f);
    ASSERT_EQ(alone.prompt[i].top.size(), 3u);
    EXPECT_GE(alone.prompt[i].top[0].second, alone.prompt[i].logprob) << i;
  }
  ASSERT_EQ(alone.generated.size(), alone.tokens.size());
  for (size_t i = 0; i < alone.tokens.size(); ++i) {
    EXPECT_EQ(alone.generated[i].token, alone.tokens[i]);
    EXPECT_EQ(alone.generated[i].top[0].first, alone.tokens[i]) << "greedy picks the top token";
  }

  Engine e(*fx().model, *fx().tok, chunked);
  RequestParams other = testing_engine::chat("Name three colours.", /*domain=*/9, 8);
  auto h_other = e.submit(other).value();
  auto h = e.submit(p).value();
  Scored batched = collect(h);
  testing_engine::drain(h_other);
  expect_same(batched.prompt, alone.prompt, "chunked + batched prompt");
  expect_same(batched.generated, alone.generated, "chunked + batched generation");
  EXPECT_EQ(e.metrics().kv_blocks_free, e.metrics().kv_blocks_total);
}

}  // namespace
}  // namespace kvs::engine
