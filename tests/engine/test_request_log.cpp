// RequestLog: the bounded ring of finished requests, and what the engine records in it for a semantic admission
// on the real model (the donor's tokens and the edit script, checked against the donor request's own prompt).
#include <gtest/gtest.h>

#include <algorithm>

#include "align/edit_script.h"
#include "engine/request_log.h"
#include "engine_fixture.h"

namespace kvs::engine {
namespace {

using namespace testing_engine;

RequestRecord record(uint64_t id, const std::string& api_id, int64_t donated_as = -1) {
  RequestRecord r;
  r.id = id;
  r.request_id = api_id;
  r.trace.donated_as = donated_as;
  return r;
}

TEST(RequestLog, KeepsTheNewestUpToItsCapacity) {
  RequestLog log(3);
  for (uint64_t i = 1; i <= 5; ++i) log.add(record(i, "req-" + std::to_string(i), i == 4 ? 7 : -1));
  EXPECT_EQ(log.size(), 3u);
  auto all = log.recent(10, [](const RequestRecord&) { return true; });
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, 5u);  // newest first
  EXPECT_EQ(all[2].id, 3u);
  auto odd = log.recent(10, [](const RequestRecord& r) { return r.id % 2 == 1; });
  ASSERT_EQ(odd.size(), 2u);
  EXPECT_EQ(odd[0].id, 5u);
  EXPECT_EQ(odd[1].id, 3u);
  EXPECT_EQ(log.recent(1, [](const RequestRecord&) { return true; }).size(), 1u);
  EXPECT_FALSE(log.find(uint64_t{2}).has_value());  // dropped
  EXPECT_FALSE(log.find(std::string("req-1")).has_value());
  ASSERT_TRUE(log.find(std::string("req-4")).has_value());
  EXPECT_EQ(log.find(std::string("req-4"))->id, 4u);
  EXPECT_FALSE(log.find(std::string("")).has_value());
  ASSERT_TRUE(log.find_donor(7).has_value());
  EXPECT_EQ(log.find_donor(7)->id, 4u);
  EXPECT_FALSE(log.find_donor(-1).has_value());
}

TEST(RequestLog, EngineRecordsTheSemanticTrace) {
  ASSERT_TRUE(fx().model && fx().tok) << "default model missing: run scripts/fetch_model.sh";
  ASSERT_TRUE(fx().emb) << "embedder missing: run scripts/fetch_embedder.sh";
  EngineConfig cfg;
  cfg.kv_cache_mib = 64;
  Engine e(*fx().model, *fx().tok, cfg, fx().emb.get());
  RequestParams a = chat("What are the symptoms of Graves disease ?", 1, 2);
  a.request_id = "donor-request";
  a.tenant = "alice";
  const std::vector<int32_t> donor_prompt = a.prompt;
  run(e, std::move(a), nullptr);
  RequestParams b = chat("What are the signs and symptoms of Graves disease?", 1, 2);
  b.request_id = "shared-request";
  b.tenant = "bob";
  b.share_mode = ShareMode::kSemantic;
  const std::vector<int32_t> prompt = b.prompt;
  auto shared = run(e, std::move(b), nullptr);
  ASSERT_EQ(shared.usage.share.mode, "semantic") << shared.usage.share.edit_script;

  const RequestLog& log = e.request_log();
  EXPECT_EQ(log.size(), 2u);
  auto donor = log.find(std::string("donor-request"));
  auto rec = log.find(std::string("shared-request"));
  ASSERT_TRUE(donor && rec);
  EXPECT_EQ(donor->tenant, "alice");
  EXPECT_EQ(donor->prompt, donor_prompt);
  EXPECT_EQ(rec->tenant, "bob");
  EXPECT_EQ(rec->prompt, prompt);
  EXPECT_EQ(rec->usage.share.donor_id, donor->trace.donated_as);
  ASSERT_TRUE(log.find_donor(rec->usage.share.donor_id).has_value());
  EXPECT_EQ(log.find_donor(rec->usage.share.donor_id)->request_id, "donor-request");
  // The donor tokens are a prefix of the donor request's prompt (what it could lend), and the script rebuilds the
  // new prompt from them.
  const SharingTrace& t = rec->trace;
  ASSERT_FALSE(t.donor_tokens.empty());
  ASSERT_LE(t.donor_tokens.size(), donor_prompt.size());
  EXPECT_TRUE(std::equal(t.donor_tokens.begin(), t.donor_tokens.end(), donor_prompt.begin()));
  align::EditScript script;
  script.runs = t.runs;
  script.donor_len = static_cast<int32_t>(t.donor_tokens.size());
  script.target_len = static_cast<int32_t>(prompt.size());
  EXPECT_TRUE(align::verify(script, t.donor_tokens, prompt).is_ok());
  EXPECT_EQ(script.to_string(16), rec->usage.share.edit_script);
  // Every position the report counts as recomputed is an inserted one or a reused one the trace lists.
  EXPECT_EQ(script.inserted() + static_cast<int64_t>(t.recomputed.size()), rec->usage.share.recomputed_tokens);
  EXPECT_TRUE(std::is_sorted(t.recomputed.begin(), t.recomputed.end()));
  const int32_t last = static_cast<int32_t>(prompt.size()) - 1;  // always recomputed: reused, it is in the list
  const bool last_kept = std::any_of(t.runs.begin(), t.runs.end(), [&](const align::EditRun& r) {
    return r.op == align::EditOp::kKeep && r.dst <= last && last < r.dst + r.n;
  });
  if (last_kept) EXPECT_EQ(t.recomputed.back(), last);
  EXPECT_EQ(rec->usage.ttft_ms, shared.usage.ttft_ms);
}

}  // namespace
}  // namespace kvs::engine
