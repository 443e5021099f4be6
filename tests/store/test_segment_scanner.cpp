// Reading segments back: torn tails at every cut, bit flips, short writes and foreign segments are detected;
// nothing that fails a check reaches the caller.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "store/segment_scanner.h"
#include "store/segment_writer.h"
#include "store_testing.h"

namespace kvs::store {
namespace {

struct Written {
  std::string path;
  std::vector<std::vector<std::byte>> payloads;
  std::vector<uint64_t> offsets;
  uint64_t size = 0;
};

Written write_segment(const std::string& dir, const SegmentIdentity& id, int n, std::mt19937& rng) {
  Written w;
  w.path = dir + "/seg-00000001.kvs";
  auto sw = SegmentWriter::create(Env::posix(), w.path, id);
  KVS_CHECK(sw.is_ok());
  for (int i = 0; i < n; ++i) {
    w.payloads.push_back(encode_block(testing::random_block(id, 100 + i, 1, rng)));
    auto off = sw.value()->append(RecordType::kBlock, w.payloads.back());
    KVS_CHECK(off.is_ok());
    w.offsets.push_back(off.value());
  }
  KVS_CHECK(sw.value()->sync().is_ok());
  w.size = sw.value()->size();
  KVS_CHECK(sw.value()->close().is_ok());
  return w;
}

std::vector<std::vector<std::byte>> scan_all(const std::string& path, const SegmentIdentity& id, ScanReport* rep) {
  std::vector<std::vector<std::byte>> got;
  auto r = scan_segment(Env::posix(), path, id, [&](RecordType t, uint64_t, std::span<const std::byte> p) {
    EXPECT_EQ(t, RecordType::kBlock);
    got.emplace_back(p.begin(), p.end());
  });
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  if (r.is_ok()) *rep = r.value();
  return got;
}

TEST(SegmentScanner, CleanSegmentYieldsEveryRecordAndReadRecordVerifies) {
  testing::TempDir dir;
  std::mt19937 rng(1);
  const auto id = testing::test_identity();
  Written w = write_segment(dir.path(), id, 5, rng);
  EXPECT_EQ(std::filesystem::file_size(w.path), w.size);
  ScanReport rep;
  auto got = scan_all(w.path, id, &rep);
  EXPECT_EQ(got, w.payloads);
  EXPECT_EQ(rep.records, 5);
  EXPECT_FALSE(rep.torn_tail);
  EXPECT_EQ(rep.corrupt_records, 0);
  for (int i = 0; i < 5; ++i) {
    auto p = read_record(Env::posix(), w.path, w.offsets[i], RecordType::kBlock);
    ASSERT_TRUE(p.is_ok());
    EXPECT_EQ(p.value(), w.payloads[i]);
    EXPECT_FALSE(read_record(Env::posix(), w.path, w.offsets[i], RecordType::kDonor).is_ok());
  }
}

TEST(SegmentScanner, TruncationAtEveryByteOfTheLastRecordDropsOnlyIt) {
  testing::TempDir dir;
  std::mt19937 rng(2);
  const auto id = testing::test_identity();
  Written w = write_segment(dir.path(), id, 3, rng);
  std::ifstream in(w.path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  for (uint64_t cut = w.offsets[2]; cut < w.size; ++cut) {
    const std::string p = dir.path() + "/cut.kvs";
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(cut));
    ScanReport rep;
    auto got = scan_all(p, id, &rep);
    ASSERT_EQ(got.size(), 2u) << "cut " << cut;
    EXPECT_EQ(got[0], w.payloads[0]);
    EXPECT_EQ(got[1], w.payloads[1]);
    EXPECT_EQ(rep.torn_tail, cut > w.offsets[2]) << cut;
  }
}

TEST(SegmentScanner, BitFlipInAPayloadSkipsThatRecordOnly) {
  testing::TempDir dir;
  std::mt19937 rng(3);
  const auto id = testing::test_identity();
  Written w = write_segment(dir.path(), id, 4, rng);
  {
    std::fstream f(w.path, std::ios::binary | std::ios::in | std::ios::out);
    const auto at = static_cast<std::streamoff>(w.offsets[1] + kRecordHeaderBytes + 100);
    f.seekg(at);
    char c;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(at);
    f.write(&c, 1);
  }
  ScanReport rep;
  auto got = scan_all(w.path, id, &rep);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], w.payloads[0]);
  EXPECT_EQ(got[1], w.payloads[2]);
  EXPECT_EQ(got[2], w.payloads[3]);
  EXPECT_EQ(rep.corrupt_records, 1);
  EXPECT_FALSE(read_record(Env::posix(), w.path, w.offsets[1], RecordType::kBlock).is_ok());
}

TEST(SegmentScanner, SegmentOfAnotherModelOrLayoutIsRefusedWhole) {
  testing::TempDir dir;
  std::mt19937 rng(4);
  const auto id = testing::test_identity(1);
  Written w = write_segment(dir.path(), id, 2, rng);
  auto other = id;
  other.model_fingerprint = 2;
  EXPECT_FALSE(scan_segment(Env::posix(), w.path, other, [](RecordType, uint64_t, std::span<const std::byte>) {
    ADD_FAILURE() << "a record of another model reached the callback";
  }).is_ok());
  other = id;
  other.block_size = 8;
  EXPECT_FALSE(scan_segment(Env::posix(), w.path, other, [](RecordType, uint64_t, std::span<const std::byte>) {
    ADD_FAILURE() << "a record of another layout reached the callback";
  }).is_ok());
}

TEST(SegmentScanner, ShortWriteBreaksTheWriterAndLeavesATornTail) {
  testing::TempDir dir;
  std::mt19937 rng(5);
  const auto id = testing::test_identity();
  testing::ShortWriteEnv env(/*fail_at=*/3, /*keep=*/50);  // header, 2 records, then a torn one
  const std::string path = dir.path() + "/seg-00000001.kvs";
  auto sw = SegmentWriter::create(&env, path, id);
  ASSERT_TRUE(sw.is_ok());
  std::vector<std::vector<std::byte>> ok;
  for (int i = 0; i < 2; ++i) {
    ok.push_back(encode_block(testing::random_block(id, i + 1, 1, rng)));
    ASSERT_TRUE(sw.value()->append(RecordType::kBlock, ok.back()).is_ok());
  }
  auto torn = encode_block(testing::random_block(id, 9, 1, rng));
  EXPECT_FALSE(sw.value()->append(RecordType::kBlock, torn).is_ok());
  EXPECT_TRUE(sw.value()->broken());
  EXPECT_FALSE(sw.value()->append(RecordType::kBlock, torn).is_ok());  // refuses after a torn record
  sw.value()->close();
  ScanReport rep;
  auto got = scan_all(path, id, &rep);
  EXPECT_EQ(got, ok);
  EXPECT_TRUE(rep.torn_tail);
}

}  // namespace
}  // namespace kvs::store
