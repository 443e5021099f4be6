// The segment and record formats: round trips, and every single-bit corruption of a header is rejected.
#include <gtest/gtest.h>

#include <random>

#include "store/records.h"
#include "store/segment_format.h"
#include "store_testing.h"

namespace kvs::store {
namespace {

TEST(SegmentFormat, SegmentHeaderRoundTripsAndRejectsEveryBitFlip) {
  const SegmentIdentity id = testing::test_identity(0xabcdef);
  auto h = encode_segment_header(id);
  auto back = decode_segment_header(h);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back.value(), id);
  for (size_t bit = 0; bit < h.size() * 8; ++bit) {
    auto bad = h;
    bad[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
    EXPECT_FALSE(decode_segment_header(bad).is_ok()) << "bit " << bit;
  }
  EXPECT_FALSE(decode_segment_header(std::span(h).first(63)).is_ok());
}

TEST(SegmentFormat, RecordHeaderRoundTripsAndRejectsEveryBitFlip) {
  RecordHeader r{RecordType::kDonor, 12345, 0x9999};
  auto h = encode_record_header(r);
  auto back = decode_record_header(h);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back.value().type, RecordType::kDonor);
  EXPECT_EQ(back.value().payload_len, 12345u);
  EXPECT_EQ(back.value().payload_hash, 0x9999u);
  for (size_t bit = 0; bit < h.size() * 8; ++bit) {
    auto bad = h;
    bad[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
    EXPECT_FALSE(decode_record_header(bad).is_ok()) << "bit " << bit;
  }
}

TEST(SegmentFormat, RecordsRoundTripAndTruncationsAreRejected) {
  std::mt19937 rng(7);
  const SegmentIdentity id = testing::test_identity();
  BlockRecord b = testing::random_block(id, 77, 5, rng);
  auto eb = encode_block(b);
  auto db = decode_block(eb);
  ASSERT_TRUE(db.is_ok());
  EXPECT_EQ(db.value(), b);
  EXPECT_FALSE(decode_block(std::span(eb).first(20)).is_ok());

  DonorRecord d;
  d.domain = 5;
  d.tokens = {1, 2, 3, 4, 5, 6};
  d.content_key = donor_content_key(d.domain, d.tokens);
  d.block_keys = {77, 78};
  d.embedding = testing::unit({1, 2, 3, 4});
  auto ed = encode_donor(d);
  auto dd = decode_donor(ed);
  ASSERT_TRUE(dd.is_ok());
  EXPECT_EQ(dd.value(), d);
  for (size_t n = 0; n < ed.size(); ++n) EXPECT_FALSE(decode_donor(std::span(ed).first(n)).is_ok()) << n;
  EXPECT_NE(donor_content_key(5, d.tokens), donor_content_key(6, d.tokens));  // the domain is part of the key
}

}  // namespace
}  // namespace kvs::store
