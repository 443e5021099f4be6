// Semantic admission inside the scheduler, on the real model and embedder: blend rows share the step's one forward
// with other sequences' rows, are chunked by max_batch_tokens, never stall a running stream, and r = 100%
// reproduces full computation. Plus the error boundary: injected faults fail only their own request.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "engine_fixture.h"

namespace kvs::engine {
namespace {

using namespace testing_engine;

// Step traces collected on the engine thread.
struct Traces {
  std::mutex mu;
  std::vector<StepTrace> steps;
  std::function<void(const StepTrace&)> hook() {
    return [this](const StepTrace& t) {
      std::lock_guard<std::mutex> lk(mu);
      steps.push_back(t);
    };
  }
  std::vector<StepTrace> take() {
    std::lock_guard<std::mutex> lk(mu);
    return std::exchange(steps, {});
  }
};

// A decoding stream that runs until cancelled: submitted, and waited for until its first token.
std::shared_ptr<RequestHandle> start_stream(Engine& e) {
  RequestParams p = chat("Write a long story about a lighthouse keeper.", 9, 1000);
  p.ignore_eos = true;
  p.share_mode = ShareMode::kFull;
  auto h = e.submit(std::move(p)).value();
  for (int i = 0; i < 100; ++i) {
    auto ev = h->next(std::chrono::seconds(30));
    if (!ev || !ev->tokens.empty() || ev->finished) break;
  }
  return h;
}

void stop_stream(const std::shared_ptr<RequestHandle>& h) {
  h->cancel();
  drain(h);
}

// A prompt of about `n_words` words: the passage repeated with numbered sections.
std::string long_passage(int repeats) {
  std::string s;
  for (int i = 0; i < repeats; ++i) s += "Section " + std::to_string(i + 1) + ". " + kPassage + "\n";
  return s;
}

TEST(EngineScheduling, TwoSemanticAdmissionsAndADecodeShareOneForward) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb) << "model or embedder missing: run scripts/test.sh set-up";
  Traces traces;
  EngineConfig cfg;
  cfg.kv_cache_mib = 128;
  cfg.on_step = traces.hook();
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  std::string t;
  run(e, rag("User profile: nurse in Lyon.", "What are the symptoms of diabetes?", 1, ShareMode::kAuto), &t);
  auto stream = start_stream(e);
  traces.take();
  // Two paraphrases submitted together: both admitted in one step, blended beside the stream's decode row.
  auto h1 = e.submit(rag("User profile: retired teacher from Ohio.", "Which signs show diabetes?", 1,
                         ShareMode::kSemantic)).value();
  auto h2 = e.submit(rag("User profile: student in Berlin, curious.", "How do I know if I have diabetes?", 1,
                         ShareMode::kSemantic)).value();
  const StreamEvent r1 = drain(h1), r2 = drain(h2);
  stop_stream(stream);
  EXPECT_EQ(r1.usage.share.mode, "semantic") << r1.usage.share.edit_script;
  EXPECT_EQ(r2.usage.share.mode, "semantic") << r2.usage.share.edit_script;
  int shared_steps = 0;
  for (const StepTrace& s : traces.take()) {
    EXPECT_LE(s.rows, cfg.max_batch_tokens);
    if (s.blend_sequences >= 2 && s.decode_rows >= 1) ++shared_steps;
  }
  EXPECT_GE(shared_steps, 1) << "no forward held both semantic admissions and the decoding stream";
  auto m = e.metrics();
  EXPECT_EQ(m.semantic_hits, 2u);
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

TEST(EngineScheduling, LongSemanticPromptIsChunkedAndNeverStallsAStream) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb) << "model or embedder missing: run scripts/test.sh set-up";
  Traces traces;
  EngineConfig cfg;
  cfg.kv_cache_mib = 320;
  cfg.max_batch_tokens = 64;
  cfg.on_step = traces.hook();
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  const std::string passage = long_passage(14);
  std::string t1, t2;
  // The question first: the edit near the start moves every passage token (reused, re-rotated, blended).
  RequestParams donor = chat("Question: What are the symptoms of diabetes?\nReference:\n" + passage, 1, 4);
  RequestParams para = chat("Question: Which signs show that I have diabetes?\nReference:\n" + passage, 1, 4);
  para.share_mode = ShareMode::kSemantic;
  const int64_t n = static_cast<int64_t>(para.prompt.size());
  ASSERT_GE(n, 2000);
  run(e, std::move(donor), &t1);
  auto stream = start_stream(e);
  traces.take();
  auto r = run(e, std::move(para), &t2);
  stop_stream(stream);
  ASSERT_EQ(r.usage.share.mode, "semantic") << r.usage.share.edit_script;
  int64_t score_rows = 0, selected_rows = 0, blend_steps = 0;
  for (const StepTrace& s : traces.take()) {
    EXPECT_LE(s.blend_score_rows + s.blend_selected_rows, 64);  // the semantic prompt's chunks
    EXPECT_LE(s.prefill_rows + s.decode_rows + s.blend_selected_rows, 64);  // full rows within the budget
    if (s.blend_sequences == 0) continue;
    ++blend_steps;
    score_rows += s.blend_score_rows;
    selected_rows += s.blend_selected_rows;
    EXPECT_EQ(s.decode_rows, 1) << "the stream got no row in a blend step";
  }
  EXPECT_GE(blend_steps, n / 64);
  EXPECT_EQ(selected_rows, r.usage.share.recomputed_tokens);
  EXPECT_GT(score_rows, n * 9 / 10);  // every row past the exact prefix was scored
  std::printf("long semantic prompt: %lld tokens, %lld blend steps, %lld scored rows, %lld selected, ttft %.0f ms\n",
              static_cast<long long>(n), static_cast<long long>(blend_steps), static_cast<long long>(score_rows),
              static_cast<long long>(selected_rows), r.usage.ttft_ms);
  auto m = e.metrics();
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

TEST(EngineScheduling, FullRatioSemanticEqualsFullComputation) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb) << "model or embedder missing: run scripts/test.sh set-up";
  for (int32_t batch : {512, 16}) {  // the blend in one chunk, and in many
    EngineConfig cfg;
    cfg.kv_cache_mib = 64;
    cfg.max_batch_tokens = batch;
    cfg.planner.guard_threshold = std::numeric_limits<double>::infinity();
    Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
    std::string t1, shared_text, full_text;
    run(e, rag("User profile: nurse in Lyon.", "What are the symptoms of diabetes?", 1, ShareMode::kAuto), &t1);
    RequestParams p = rag("User profile: retired teacher.", "Which signs show diabetes?", 1, ShareMode::kSemantic);
    p.max_tokens = 32;
    p.recompute_ratio = 1.0;
    RequestParams f = p;
    f.share_mode = ShareMode::kFull;
    auto shared = run(e, std::move(p), &shared_text);
    ASSERT_EQ(shared.usage.share.mode, "semantic") << shared.usage.share.edit_script;
    EXPECT_GT(shared.usage.cached_tokens, 0);  // the exact prefix; every other row recomputed
    Engine g(*fx().model, *fx().tok, cfg, fx().emb.get());
    run(g, std::move(f), &full_text);
    EXPECT_EQ(shared_text, full_text) << "max_batch_tokens " << batch;
  }
}

// Decode-stage repair: spare rows recompute the semantic sequence's approximate rows in position order; once done
// its KV equals full computation, so every later token is what full computation of the same tokens gives.
TEST(EngineScheduling, DecodeStageRepairMakesTheSequenceExact) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb) << "model or embedder missing: run scripts/test.sh set-up";
  Traces traces;
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  cfg.repair_rows = 16;
  cfg.on_step = traces.hook();
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  std::string t1, t2;
  run(e, rag("User profile: nurse in Lyon.", "What are the symptoms of diabetes?", 1, ShareMode::kAuto), &t1);
  traces.take();
  RequestParams p = rag("User profile: retired teacher from Ohio.", "Which signs show diabetes?", 1, ShareMode::kSemantic);
  p.max_tokens = 40;
  p.ignore_eos = true;
  const std::vector<int32_t> prompt = p.prompt;
  std::vector<int32_t> answer;
  const StreamEvent last = drain(e.submit(std::move(p)).value(), nullptr, &answer);
  ASSERT_EQ(last.usage.share.mode, "semantic") << last.usage.share.edit_script;
  ASSERT_EQ(answer.size(), 40u);
  const int64_t k = last.usage.share.repaired_after_tokens;
  int64_t repair_rows = 0;
  for (const StepTrace& s : traces.take()) {
    EXPECT_LE(s.repair_rows, 16);
    repair_rows += s.repair_rows;
  }
  ASSERT_GE(k, 1) << "not repaired within 40 tokens";
  EXPECT_LE(k, 20);
  EXPECT_GT(repair_rows, static_cast<int64_t>(prompt.size()) / 2);  // the rows past the exact prefix, and more
  // Full computation of the prompt and the first k answer tokens continues exactly as the repaired sequence did.
  RequestParams f;
  f.prompt = prompt;
  f.prompt.insert(f.prompt.end(), answer.begin(), answer.begin() + k);
  f.max_tokens = static_cast<int32_t>(40 - k);
  f.ignore_eos = true;
  f.share_mode = ShareMode::kFull;
  std::vector<int32_t> cont;
  drain(e.submit(std::move(f)).value(), nullptr, &cont);
  EXPECT_EQ(cont, std::vector<int32_t>(answer.begin() + k, answer.end())) << "repaired after " << k << " tokens";
  auto m = e.metrics();
  EXPECT_EQ(m.repaired_sequences, 1u);
  EXPECT_EQ(last.usage.repair_rows, repair_rows);  // the extra compute is reported with the request
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
  std::printf("decode-stage repair: exact after %lld of 40 tokens, %lld repair rows\n", static_cast<long long>(k),
              static_cast<long long>(repair_rows));
}

TEST(EngineScheduling, InjectedFaultsFailOnlyTheirRequest) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb) << "model or embedder missing: run scripts/test.sh set-up";
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  for (const char* spec : {"embed:throw:F-EMBED", "search:throw:F-SEARCH", "admit:oom:F-ADMIT",
                           "forward:status:F-FORWARD", "forward:throw:F-FWTHROW", "sample:throw:F-SAMPLE",
                           "donate:throw:F-DONATE"})
    cfg.faults.push_back(FaultSpec::parse(spec).value());
  EXPECT_FALSE(FaultSpec::parse("nowhere:throw:X").is_ok());
  EXPECT_FALSE(FaultSpec::parse("search:throw:").is_ok());
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  const std::pair<const char*, const char*> cases[] = {
      {"F-EMBED", "embed"}, {"F-SEARCH", "search"}, {"F-ADMIT", "out of memory"}, {"F-FORWARD", "forward"},
      {"F-FWTHROW", "forward"}, {"F-SAMPLE", "sampling"}};
  for (const auto& [marker, what] : cases) {
    // A healthy stream runs beside the faulty request; it must finish normally.
    RequestParams ok = chat("Tell me about the heart.", 1, 24);
    ok.ignore_eos = true;
    auto healthy = e.submit(std::move(ok)).value();
    std::string text;
    auto bad = run(e, chat(std::string("Question ") + marker + ": what is asthma?", 1), &text);
    EXPECT_EQ(bad.finish_reason, "error") << marker;
    EXPECT_NE(bad.error.message().find(what), std::string::npos) << marker << ": " << bad.error.to_string();
    const StreamEvent last = drain(healthy);
    EXPECT_EQ(last.finish_reason, "length") << "healthy request next to " << marker;
    EXPECT_EQ(last.usage.completion_tokens, 24);
  }
  // A failed donation: the request itself is served; it just never lends its KV.
  std::string a, b;
  auto donor = run(e, chat("F-DONATE What are the symptoms of Graves disease ?", 1), &a);
  EXPECT_EQ(donor.finish_reason, "length");
  RequestParams para = chat("F-DONATE What are the signs and symptoms of Graves disease?", 1);
  auto after = run(e, std::move(para), &b);
  EXPECT_NE(after.usage.share.mode, "semantic");
  auto m = e.metrics();
  EXPECT_EQ(m.requests_failed, 6u);
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

}  // namespace
}  // namespace kvs::engine
