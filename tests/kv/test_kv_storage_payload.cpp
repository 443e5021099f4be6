// KvStorage's block payload (read_block / write_block): for each layer K then V of the block, raw elements.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "kv/kv_storage.h"

namespace kvs::kv {
namespace {

TEST(KvStoragePayload, LayoutIsPerLayerKThenVAndRoundTrips) {
  KvStorage s(/*n_layer=*/3, /*n_blocks=*/4, /*block_size=*/2, /*n_kv_head=*/2, /*head_dim=*/3, DType::kF32);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t l = 0; l < 3; ++l)
    for (int64_t b = 0; b < 4; ++b)
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t i = 0; i < 6; ++i) {
          s.k(l, b, h)[i] = u(rng);
          s.v(l, b, h)[i] = u(rng);
        }
  EXPECT_EQ(s.dtype(), DType::kF32);
  ASSERT_EQ(s.block_payload_bytes(), 3 * 2 * 2 * 2 * 3 * 4);
  std::vector<std::byte> p(s.block_payload_bytes());
  s.read_block(2, p);
  // Independent of the implementation: element (l, kv, h, row, d) at ((l * 2 + kv) * 2 + h) * 6 + row * 3 + d.
  for (int64_t l = 0; l < 3; ++l)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 6; ++i) {
        float k, v;
        std::memcpy(&k, p.data() + (((l * 2 + 0) * 2 + h) * 6 + i) * 4, 4);
        std::memcpy(&v, p.data() + (((l * 2 + 1) * 2 + h) * 6 + i) * 4, 4);
        EXPECT_EQ(k, s.k(l, 2, h)[i]);
        EXPECT_EQ(v, s.v(l, 2, h)[i]);
      }
  const float before = s.k(0, 1, 0)[0];
  s.write_block(3, p);
  for (int64_t l = 0; l < 3; ++l)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 6; ++i) {
        EXPECT_EQ(s.k(l, 3, h)[i], s.k(l, 2, h)[i]);
        EXPECT_EQ(s.v(l, 3, h)[i], s.v(l, 2, h)[i]);
      }
  EXPECT_EQ(s.k(0, 1, 0)[0], before);  // other blocks untouched
}

}  // namespace
}  // namespace kvs::kv
