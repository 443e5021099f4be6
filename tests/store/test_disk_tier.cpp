// DiskTier: what is put is read back bit for bit, across a reopen (restart); checks refuse another domain,
// other tokens and bytes corrupted on disk; a failed write leaves the index without the donation and later
// donations land in a new segment; the byte budget deletes the oldest segments.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "store/disk_tier.h"
#include "store_testing.h"

namespace kvs::store {
namespace {

using testing::Donation;
using testing::make_donation;

void expect_block(DiskTier& t, const BlockRecord& b) {
  std::vector<std::byte> out(b.kv.size());
  Status st = t.read_block(b.key, b.domain, b.tokens, out);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(out, b.kv);
}

DiskTierConfig config(const std::string& dir) {
  DiskTierConfig c;
  c.dir = dir;
  c.fsync = false;  // tmpfs-friendly; the crash tests go through the server
  return c;
}

TEST(DiskTier, PutReadBackAndReopenRebuildsTheIndex) {
  testing::TempDir dir;
  std::mt19937 rng(11);
  const auto id = testing::test_identity();
  Donation a = make_donation(id, 1, 1000, 3, {1, 0, 0, 0}, rng);
  Donation b = make_donation(id, 2, 2000, 2, {0, 1, 0, 0}, rng);
  {
    auto t = DiskTier::open(config(dir.path()), id);
    ASSERT_TRUE(t.is_ok()) << t.status().message();
    EXPECT_TRUE(t.value()->put(a.blocks, a.donor));
    EXPECT_TRUE(t.value()->put(b.blocks, b.donor));
    EXPECT_FALSE(t.value()->put({}, a.donor));  // stored already
    for (const auto& blk : a.blocks) expect_block(*t.value(), blk);  // served while queued or written
    t.value()->flush();
    const DiskTierStats s = t.value()->stats();
    EXPECT_EQ(s.blocks_written, 5u);
    EXPECT_EQ(s.donors_written, 2u);
    EXPECT_EQ(s.usage_bytes, std::filesystem::file_size(dir.path() + "/seg-00000001.kvs"));
  }
  auto t = DiskTier::open(config(dir.path()), id);  // restart
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t.value()->stats().donors, 2u);
  EXPECT_EQ(t.value()->stats().blocks, 5u);
  auto hits = t.value()->search(1, testing::unit({0.9f, 0.1f, 0, 0}), 4, 0.5f);
  ASSERT_EQ(hits.size(), 1u);  // domain 2's donor is never a candidate of domain 1
  EXPECT_EQ(hits[0].donor_id, a.donor.content_key);
  auto rec = t.value()->donor(hits[0].donor_id);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(*rec, a.donor);
  for (const auto& blk : a.blocks) expect_block(*t.value(), blk);
  for (const auto& blk : b.blocks) expect_block(*t.value(), blk);
  // Another domain or other tokens: refused.
  std::vector<std::byte> out(id.block_payload_bytes);
  EXPECT_EQ(t.value()->read_block(a.blocks[0].key, 2, a.blocks[0].tokens, out).code(), Code::kNotFound);
  auto toks = a.blocks[0].tokens;
  toks[0] += 1;
  EXPECT_EQ(t.value()->read_block(a.blocks[0].key, 1, toks, out).code(), Code::kCorrupt);
}

TEST(DiskTier, BytesCorruptedAfterTheScanAreNeverServed) {
  testing::TempDir dir;
  std::mt19937 rng(12);
  const auto id = testing::test_identity();
  Donation a = make_donation(id, 1, 10, 2, {1, 1, 0, 0}, rng);
  auto t = DiskTier::open(config(dir.path()), id);
  ASSERT_TRUE(t.is_ok());
  ASSERT_TRUE(t.value()->put(a.blocks, a.donor));
  t.value()->flush();
  {  // flip one byte of the second block's K/V on disk
    const std::string p = dir.path() + "/seg-00000001.kvs";
    std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
    const auto rec = static_cast<std::streamoff>(kSegmentHeaderBytes + (kRecordHeaderBytes + encode_block(a.blocks[0]).size()));
    const auto at = rec + static_cast<std::streamoff>(kRecordHeaderBytes + 60);
    f.seekg(at);
    char c;
    f.read(&c, 1);
    c ^= 1;
    f.seekp(at);
    f.write(&c, 1);
  }
  expect_block(*t.value(), a.blocks[0]);
  std::vector<std::byte> out(id.block_payload_bytes);
  EXPECT_EQ(t.value()->read_block(a.blocks[1].key, 1, a.blocks[1].tokens, out).code(), Code::kCorrupt);
  EXPECT_GE(t.value()->stats().corrupt_records, 1u);
}

TEST(DiskTier, FailedWriteDropsTheDonationAndTheNextGoesToANewSegment) {
  testing::TempDir dir;
  std::mt19937 rng(13);
  const auto id = testing::test_identity();
  // Appends: segment 1 header, block, block (torn) -> the donation fails; then segment 2.
  testing::ShortWriteEnv env(/*fail_at=*/2, /*keep=*/40);
  Donation a = make_donation(id, 1, 10, 2, {1, 0, 1, 0}, rng);
  Donation b = make_donation(id, 1, 20, 2, {0, 0, 1, 1}, rng);
  {
    auto t = DiskTier::open(config(dir.path()), id, &env);
    ASSERT_TRUE(t.is_ok());
    ASSERT_TRUE(t.value()->put(a.blocks, a.donor));
    t.value()->flush();
    EXPECT_EQ(t.value()->stats().write_errors, 1u);
    EXPECT_FALSE(t.value()->has_donor(a.donor.content_key));
    EXPECT_TRUE(t.value()->has_block(a.blocks[0].key));   // written before the failure: still valid
    EXPECT_FALSE(t.value()->has_block(a.blocks[1].key));  // torn
    ASSERT_TRUE(t.value()->put(b.blocks, b.donor));
    t.value()->flush();
    EXPECT_EQ(t.value()->stats().segments, 2u);
  }
  auto t = DiskTier::open(config(dir.path()), id);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t.value()->stats().torn_tails, 1u);
  EXPECT_FALSE(t.value()->has_donor(a.donor.content_key));
  EXPECT_TRUE(t.value()->has_donor(b.donor.content_key));
  expect_block(*t.value(), a.blocks[0]);
  for (const auto& blk : b.blocks) expect_block(*t.value(), blk);
}

TEST(DiskTier, BudgetDeletesTheOldestSegmentsFirst) {
  testing::TempDir dir;
  std::mt19937 rng(14);
  const auto id = testing::test_identity();
  DiskTierConfig c = config(dir.path());
  const uint64_t per_donation = 2 * (kRecordHeaderBytes + encode_block(testing::random_block(id, 1, 1, rng)).size()) + 200;
  c.segment_bytes = per_donation;   // about one donation per segment
  c.budget_bytes = 4 * per_donation;
  auto t = DiskTier::open(c, id);
  ASSERT_TRUE(t.is_ok());
  std::vector<Donation> ds;
  for (int i = 0; i < 12; ++i) {
    ds.push_back(make_donation(id, 1, 100 * (i + 1), 2, {1, float(i), 0, 1}, rng));
    ASSERT_TRUE(t.value()->put(ds.back().blocks, ds.back().donor));
    t.value()->flush();
    EXPECT_LE(t.value()->stats().usage_bytes, c.budget_bytes + c.segment_bytes);
  }
  EXPECT_GT(t.value()->stats().segments_deleted, 0u);
  EXPECT_FALSE(t.value()->has_donor(ds.front().donor.content_key));  // oldest gone
  EXPECT_TRUE(t.value()->has_donor(ds.back().donor.content_key));
  uint64_t files = 0, bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    bytes += e.file_size();
  }
  EXPECT_EQ(files, t.value()->stats().segments);
  EXPECT_EQ(bytes, t.value()->stats().usage_bytes);
  for (const auto& blk : ds.back().blocks) expect_block(*t.value(), blk);
}

TEST(DiskTier, SegmentOfAnotherModelIsSkippedAndLeftAlone) {
  testing::TempDir dir;
  std::mt19937 rng(15);
  Donation a = make_donation(testing::test_identity(1), 1, 10, 1, {1, 0, 0, 0}, rng);
  {
    auto t = DiskTier::open(config(dir.path()), testing::test_identity(1));
    ASSERT_TRUE(t.is_ok());
    ASSERT_TRUE(t.value()->put(a.blocks, a.donor));
  }
  auto t = DiskTier::open(config(dir.path()), testing::test_identity(2));
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t.value()->stats().segments_skipped, 1u);
  EXPECT_EQ(t.value()->stats().donors, 0u);
  EXPECT_TRUE(t.value()->search(1, a.donor.embedding, 4, 0.0f).empty());
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/seg-00000001.kvs"));
}

}  // namespace
}  // namespace kvs::store
