// The disk tier end to end on the real model and embedder: a donor evicted from a small RAM pool, or from a
// previous engine (restart), is read back from disk and lends its KV with the same bits it had in RAM; another
// share domain never gets it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "engine_fixture.h"

namespace kvs::engine {
namespace {

using namespace testing_engine;

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "kvs_engine_disk_XXXXXX").string();
    KVS_CHECK(mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

EngineConfig disk_config(const std::string& dir, int64_t mib) {
  EngineConfig cfg;
  cfg.kv_cache_mib = mib;
  cfg.disk_cache_dir = dir;
  cfg.disk_fsync = false;
  cfg.background_repair_rows = 0;
  return cfg;
}

const char* kDonorProfile = "User profile: nurse in Lyon.";
const char* kOtherProfile = "User profile: retired teacher from Ohio, prefers short answers.";

TEST(EngineDisk, RestartedEngineLendsAStoredDonorWithTheBitsItHadInRam) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb) << "model or embedder missing (scripts/fetch_*.sh)";
  TempDir dir;
  std::string t_ram, t_disk, t_other;
  StreamEvent ram;
  {
    Engine e(*fx().model, *fx().tok, disk_config(dir.path, 64), fx().emb.get());
    ASSERT_TRUE(e.disk_status().is_ok()) << e.disk_status().message();
    std::string t;
    run(e, rag(kDonorProfile, "What are the symptoms of diabetes?", 1, ShareMode::kAuto), &t);
    e.flush_disk();
    EXPECT_GT(e.metrics().disk_demotions, 0u);
    ram = run(e, rag(kOtherProfile, "Which signs show diabetes?", 1, ShareMode::kSemantic), &t_ram);
    ASSERT_EQ(ram.usage.share.mode, "semantic");
    EXPECT_EQ(ram.usage.share.tier, "ram");
  }
  Engine e(*fx().model, *fx().tok, disk_config(dir.path, 64), fx().emb.get());
  ASSERT_TRUE(e.disk_status().is_ok());
  EXPECT_EQ(e.metrics().donors, 0);
  EXPECT_EQ(e.metrics().disk_donors, 1);
  auto other = run(e, rag(kOtherProfile, "Which signs show diabetes?", 2, ShareMode::kSemantic), &t_other);
  EXPECT_NE(other.usage.share.mode, "semantic");  // another domain: nothing promoted, nothing lent
  EXPECT_EQ(e.metrics().disk_promotions, 0u);
  auto disk = run(e, rag(kOtherProfile, "Which signs show diabetes?", 1, ShareMode::kSemantic), &t_disk);
  ASSERT_EQ(disk.usage.share.mode, "semantic");
  EXPECT_EQ(disk.usage.share.tier, "disk");
  EXPECT_GT(disk.usage.share.disk_blocks, 0);
  EXPECT_EQ(disk.usage.share.edit_script, ram.usage.share.edit_script);
  EXPECT_EQ(disk.usage.share.recomputed_tokens, ram.usage.share.recomputed_tokens);
  EXPECT_EQ(t_disk, t_ram);
  const MetricsSnapshot m = e.metrics();
  EXPECT_EQ(m.disk_promotions, static_cast<uint64_t>(disk.usage.share.disk_blocks));
  EXPECT_EQ(m.tier_hits_disk, 1u);
  EXPECT_EQ(m.disk_fetch.count, m.disk_promotions);
}

TEST(EngineDisk, DonorEvictedFromASmallPoolIsPromotedBack) {
  ASSERT_TRUE(fx().model && fx().tok && fx().emb) << "model or embedder missing (scripts/fetch_*.sh)";
  TempDir dir;
  // ~28 blocks of 16 tokens: the donor (~210 tokens) and its answer fit; unrelated long prompts evict it.
  Engine e(*fx().model, *fx().tok, disk_config(dir.path, 20), fx().emb.get());
  ASSERT_TRUE(e.disk_status().is_ok());
  std::string t;
  run(e, rag(kDonorProfile, "What are the symptoms of diabetes?", 1, ShareMode::kAuto), &t);
  EXPECT_EQ(e.metrics().donors, 1);
  for (int f = 0; f < 3; ++f) {  // ~350 new tokens each (22 blocks): the LRU evicts every older block
    std::string text;
    for (int i = 0; i < 25; ++i)
      text += "Item " + std::to_string(100 * f + i) + ": the quick brown fox jumps over the lazy dog. ";
    RequestParams p = chat(text, 1, 4);
    p.share_mode = ShareMode::kPrefix;
    run(e, std::move(p), &t);
  }
  // The fillers share only the chat template's first block with the donor: the donor is truncated to it (not
  // removed), and promotion reads back exactly the blocks the pool lost (disk_blocks > 0 proves the eviction).
  std::string t_disk;
  auto disk = run(e, rag(kOtherProfile, "Which signs show diabetes?", 1, ShareMode::kSemantic), &t_disk);
  ASSERT_EQ(disk.usage.share.mode, "semantic");
  EXPECT_EQ(disk.usage.share.tier, "disk");
  EXPECT_GT(disk.usage.share.disk_blocks, 0);
  EXPECT_GT(disk.usage.cached_tokens, 100);  // most of the ~210-token donor is lent again
}

}  // namespace
}  // namespace kvs::engine
