// Semantic admission without a model (engine/semantic_admission.h): find_donor_by_runs over a real DonorStore
// and KvManager. The donor is found by the passage it shares with the prompt, with the same plan the embedding
// path (find_donor) builds for that donor; a share of the prompt below min_kept, another share domain or a prompt
// that shares only the exact prefix finds nothing. Token ids are made up; the expected counts come from how each
// prompt is built.
#include <gtest/gtest.h>


#include "engine/semantic_admission.h"
#include "kv/kv_manager.h"
#include "token_runs.h"

namespace kvs::engine {
namespace {

constexpr int32_t kBs = 16;
using namespace kvs::testing_tokens;

class RunAdmission : public ::testing::Test {
 protected:
  void SetUp() override {
    store.enable_fragments(kBs, kBs);
    // donor = template(16) preamble A(16) passage(128) question A(8): 168 tokens, 10 full blocks + a tail
    donor = cat({seq(1, 16), seq(500, 16), seq(1000, 128), seq(700, 8)});
    kv::BlockTable t;
    ASSERT_TRUE(kv.reserve(t, static_cast<int64_t>(donor.size())).is_ok());
    kv.publish(t, 1, donor, static_cast<int64_t>(donor.size()));
    std::vector<kv::BlockId> blocks(t.ids().begin(), t.ids().begin() + 10);
    auto tail = kv.publish_tail(t, 1, donor);
    ASSERT_TRUE(tail.has_value());
    blocks.push_back(*tail);
    kv.release(t);
    store.apply_evictions(kv.pool().take_evicted());
    donor_id = store.add(1, donor, blocks, axis(0));
    ASSERT_NE(donor_id, 0u);
    opt.mode = ShareMode::kSemantic;  // forced: the plan is built whatever the cost model would say
  }
  kv::KvManager kv{kv::KvGeometry{1, 1, 4, kBs}, 64};
  share::DonorStore store{4, 16};
  std::vector<int32_t> donor;
  uint64_t donor_id = 0;
  FindDonorOptions opt;
};

// prompt = template(16) preamble B(10) passage(128) question B(6): 160 tokens, of which the donor holds the
// template and the passage (144 = 0.9 of the prompt).
TEST_F(RunAdmission, ThePassageFindsItsDonorWithTheEmbeddingPathsPlan) {
  const auto prompt = cat({seq(1, 16), seq(600, 10), seq(1000, 128), seq(800, 6)});
  auto by_runs = find_donor_by_runs(store, kv, 1, prompt, opt, 0.5);
  ASSERT_TRUE(by_runs.has_value());
  EXPECT_TRUE(by_runs->donor.by_runs);
  EXPECT_EQ(by_runs->donor.donor_id, static_cast<int64_t>(donor_id));
  EXPECT_EQ(by_runs->donor.script.kept(), 144);
  EXPECT_EQ(by_runs->plan.n_reused(), 144);
  EXPECT_EQ(by_runs->prefix_hit_tokens, 16);
  // The same donor found by its embedding: the same script and plan.
  auto by_embedding = find_donor(store, kv, 1, prompt, axis(0), opt);
  ASSERT_TRUE(by_embedding.has_value());
  EXPECT_FALSE(by_embedding->donor.by_runs);
  EXPECT_EQ(by_embedding->donor.script.to_string(), by_runs->donor.script.to_string());
  EXPECT_EQ(by_embedding->plan.n_reused(), by_runs->plan.n_reused());
  EXPECT_EQ(by_embedding->plan.n_recomputed(), by_runs->plan.n_recomputed());
  // Kept share 0.9: a floor above it finds nothing (the caller embeds instead); another domain sees nothing.
  EXPECT_FALSE(find_donor_by_runs(store, kv, 1, prompt, opt, 0.95).has_value());
  EXPECT_FALSE(find_donor_by_runs(store, kv, 2, prompt, opt, 0.5).has_value());
  FindDonorOptions full = opt;
  full.mode = ShareMode::kFull;
  EXPECT_FALSE(find_donor_by_runs(store, kv, 1, prompt, full, 0.5).has_value());
}

// A prompt that shares only the template (the exact prefix) with the donor has no window to look up after it.
TEST_F(RunAdmission, TheExactPrefixAloneIsNoDonor) {
  const auto prompt = cat({seq(1, 16), seq(3000, 40)});
  EXPECT_FALSE(find_donor_by_runs(store, kv, 1, prompt, opt, 0.1).has_value());
}

}  // namespace
}  // namespace kvs::engine
