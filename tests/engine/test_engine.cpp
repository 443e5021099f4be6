// Engine tests on the real default model: continuous batching gives the same greedy texts as one-at-a-time,
// prefix sharing computes only the unshared rows, preemption and cancellation free every block.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <thread>

#include "test_model_path.h"

namespace kvs::engine {
namespace {

struct Fixture {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tok::Tokenizer> tok;
};

const Fixture& fx() {
  static const Fixture f = [] {
    Fixture f;
    const std::string path = testing::default_model_path();
    if (path.empty()) return f;
    auto m = model::Model::load(path);
    if (!m.is_ok()) return f;
    f.model = std::move(m).value();
    auto t = tok::Tokenizer::from_gguf(f.model->file());
    if (t.is_ok()) f.tok = std::move(t).value();
    return f;
  }();
  return f;
}

#define REQUIRE_MODEL() \
  ASSERT_TRUE(fx().model && fx().tok) << "default model not found: run scripts/fetch_model.sh or set KVS_MODEL"

struct Outcome {
  std::string text;
  std::vector<int32_t> tokens;
  StreamEvent last;
};

Outcome drain(const std::shared_ptr<RequestHandle>& h) {
  Outcome o;
  for (;;) {
    auto ev = h->next(std::chrono::seconds(120));
    if (!ev) {
      ADD_FAILURE() << "timed out waiting for the engine";
      return o;
    }
    o.text += ev->text;
    o.tokens.insert(o.tokens.end(), ev->tokens.begin(), ev->tokens.end());
    if (ev->finished) {
      o.last = *ev;
      return o;
    }
  }
}

RequestParams greedy(const std::string& text, int max_tokens, uint64_t domain = 0) {
  RequestParams p;
  p.prompt = fx().tok->encode(text).value();
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  p.domain = domain;
  return p;
}

std::vector<std::string> prompts() {
  return {"The capital of France is", "What are the symptoms of diabetes?", "Once upon a time",
          "def add(a, b):", "The three primary colors are", "Water boils at", "My favourite book is",
          "In 1969, astronauts", "Photosynthesis is the process", "A healthy breakfast includes",
          "The quick brown fox", "To treat a mild fever, you can", "Python lists are", "The heart pumps",
          "Vaccines work by", "The largest planet in our solar system"};
}

TEST(Engine, ConcurrentGreedyEqualsSequential) {
  REQUIRE_MODEL();
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  cfg.prefix_cache = false;
  std::vector<std::string> seq_out;
  {
    Engine e(*fx().model, *fx().tok, cfg);
    for (const auto& p : prompts()) seq_out.push_back(drain(e.submit(greedy(p, 12)).value()).text);
  }
  Engine e(*fx().model, *fx().tok, cfg);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (const auto& p : prompts()) hs.push_back(e.submit(greedy(p, 12)).value());
  for (size_t i = 0; i < hs.size(); ++i) EXPECT_EQ(drain(hs[i]).text, seq_out[i]) << "prompt " << i;
  auto m = e.metrics();
  EXPECT_LT(m.steps, 16u * 12u) << "requests were not batched";
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

TEST(Engine, PrefixSharingComputesOnlyTheRest) {
  REQUIRE_MODEL();
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  Engine e(*fx().model, *fx().tok, cfg);
  const std::string system =
      "You are a careful medical assistant. Answer briefly, cite no sources, and tell the user to see a doctor "
      "when symptoms are severe or last more than a few days. ";
  auto a = drain(e.submit(greedy(system + "What causes asthma?", 4)).value());
  auto b_params = greedy(system + "What causes gout?", 4);
  const int64_t n_b = static_cast<int64_t>(b_params.prompt.size());
  auto b = drain(e.submit(b_params).value());
  const int64_t n_sys = static_cast<int64_t>(fx().tok->encode(system).value().size());
  EXPECT_GE(b.last.usage.cached_tokens, (n_sys - 1) / 16 * 16);
  EXPECT_EQ(b.last.usage.computed_prompt_tokens, n_b - b.last.usage.cached_tokens);
  // Same prompt, other share domain: nothing reused.
  auto c = drain(e.submit(greedy(system + "What causes gout?", 4, /*domain=*/99)).value());
  EXPECT_EQ(c.last.usage.cached_tokens, 0);
  EXPECT_EQ(c.text, b.text);
  auto m = e.metrics();
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

TEST(Engine, PreemptionUnderATinyPoolKeepsOutputs) {
  REQUIRE_MODEL();
  EngineConfig big;
  big.kv_cache_mib = 64;
  big.prefix_cache = false;
  EngineConfig tiny = big;
  tiny.kv_cache_mib = 2;  // ~5 blocks of 16 tokens (f16 KV): four requests cannot all fit
  std::vector<std::string> ref, got;
  {
    Engine e(*fx().model, *fx().tok, big);
    for (int i = 0; i < 4; ++i) ref.push_back(drain(e.submit(greedy(prompts()[i], 24)).value()).text);
  }
  Engine e(*fx().model, *fx().tok, tiny);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (int i = 0; i < 4; ++i) hs.push_back(e.submit(greedy(prompts()[i], 24)).value());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(drain(hs[i]).text, ref[i]);
  auto m = e.metrics();
  EXPECT_GT(m.preemptions, 0u);
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

// A tiny pool with the prefix cache on: requests adopt cached prefix blocks, fail to reserve the rest, give them back,
// get preempted. Whatever happened, the usage reports the admission that computed the prompt: what was reused plus
// what was computed is the prompt, and a request never preempted computed exactly the part it did not reuse.
TEST(Engine, UsageStaysTrueUnderFailedReservesAndPreemption) {
  REQUIRE_MODEL();
  EngineConfig tiny;
  tiny.kv_cache_mib = 3;  // 8 blocks of 16 tokens (f16 KV): two requests do not fit beside each other
  const std::string system =
      "You are a careful medical assistant for a public health help desk. Answer briefly, clearly and kindly, "
      "in plain words. ";
  std::vector<std::string> ref;
  {
    EngineConfig big = tiny;
    big.kv_cache_mib = 64;
    Engine e(*fx().model, *fx().tok, big);
    for (int i = 0; i < 4; ++i) ref.push_back(drain(e.submit(greedy(system + prompts()[i], 24)).value()).text);
  }
  Engine e(*fx().model, *fx().tok, tiny);
  int64_t reused = 0, preempted = 0;
  for (int round = 0; round < 2; ++round) {
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (int i = 0; i < 4; ++i) hs.push_back(e.submit(greedy(system + prompts()[i], 24)).value());
    for (int i = 0; i < 4; ++i) {
      auto o = drain(hs[i]);
      EXPECT_EQ(o.text, ref[i]);
      const Usage& u = o.last.usage;
      EXPECT_EQ(u.cached_tokens + u.share.recomputed_tokens, u.prompt_tokens);
      EXPECT_EQ(u.share.reused_tokens, u.cached_tokens);
      EXPECT_LT(u.cached_tokens, u.prompt_tokens);
      if (u.preemptions == 0) EXPECT_EQ(u.computed_prompt_tokens, u.prompt_tokens - u.cached_tokens) << i;
      else EXPECT_GE(u.computed_prompt_tokens, u.prompt_tokens - u.cached_tokens) << i;
      reused += u.cached_tokens;
      preempted += u.preemptions;
    }
  }
  EXPECT_GT(reused, 0);  // the shared system prompt was reused at least once
  auto m = e.metrics();
  std::printf("tiny pool with prefix cache: %lld tokens reused, %lld preemptions\n", static_cast<long long>(reused),
              static_cast<long long>(preempted));
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

TEST(Engine, CancellationFreesBlocksAndRejectsBadInput) {
  REQUIRE_MODEL();
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  Engine e(*fx().model, *fx().tok, cfg);
  auto h = e.submit(greedy("Tell me a long story about a dragon.", 2000)).value();
  auto first = h->next(std::chrono::seconds(60));
  ASSERT_TRUE(first.has_value());
  h->cancel();
  auto o = drain(h);
  EXPECT_EQ(o.last.finish_reason, "cancelled");
  auto m = e.metrics();
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
  EXPECT_EQ(m.requests_cancelled, 1u);
  RequestParams empty;
  EXPECT_EQ(e.submit(empty).status().code(), Code::kInvalidArgument);
  RequestParams huge = greedy("x", 4);
  huge.prompt.assign(20000, 100);
  EXPECT_EQ(e.submit(huge).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace kvs::engine
