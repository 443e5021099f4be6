// KvStorage (kv/kv_storage.h): f16 and f32 element storage, the conversions against the scalar IEEE-half
// reference (every ISA), block copies, and the disk tier's block payload (read_block / write_block).
#include "kv/kv_storage.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/f16.h"
#include "kernels/cpu/ops.h"

namespace kvs::kv {
namespace {

constexpr int64_t kLayers = 3, kBlocks = 6, kBs = 5, kHeads = 2, kHd = 24;

std::vector<float> random_rows(std::mt19937& rng, int64_t n, float scale) {
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

std::vector<kernels::Isa> isas() {
  std::vector<kernels::Isa> v;
  for (kernels::Isa i : {kernels::Isa::kScalar, kernels::Isa::kAvx2, kernels::Isa::kAvx512})
    if (kernels::isa_supported(i)) v.push_back(i);
  return v;
}

TEST(KvStorage, SizesFollowTheElementType) {
  KvStorage h(kLayers, kBlocks, kBs, kHeads, kHd);
  KvStorage f(kLayers, kBlocks, kBs, kHeads, kHd, DType::kF32);
  EXPECT_EQ(h.dtype(), DType::kF16);
  EXPECT_EQ(f.dtype(), DType::kF32);
  EXPECT_EQ(h.block_payload_bytes(), 2 * kLayers * kHeads * kBs * kHd * 2);
  EXPECT_EQ(f.block_payload_bytes(), 2 * kLayers * kHeads * kBs * kHd * 4);
  EXPECT_EQ(KvStorage::bytes_per_block(kLayers, kBs, kHeads, kHd), h.block_payload_bytes());
  EXPECT_EQ(KvStorage::bytes_per_block(kLayers, kBs, kHeads, kHd, DType::kF32), f.block_payload_bytes());
}

// f16 rows round to nearest even exactly as the scalar reference does (bit for bit, on every ISA, odd lengths
// included: the SIMD tail) and read back exactly; f32 rows read back bit for bit.
TEST(KvStorage, StoreLoadMatchesTheScalarHalfReference) {
  std::mt19937 rng(5);
  for (kernels::Isa isa : isas()) {
    kernels::ScopedIsa scoped(isa);
    KvStorage h(kLayers, kBlocks, kBs, kHeads, kHd);
    KvStorage f(kLayers, kBlocks, kBs, kHeads, kHd, DType::kF32);
    for (int64_t n_rows : {1, 2, 5}) {
      // Values across the half range: subnormals (1e-6), normal, large (3e4), beyond it (1e5 -> inf).
      for (float scale : {1e-6f, 1.0f, 3e4f, 1e5f}) {
        const int64_t slot = kBs - n_rows;
        std::vector<float> x = random_rows(rng, n_rows * kHd, scale), back(x.size());
        h.store_k(1, 4, 1, slot, n_rows, x.data());
        h.load_k(1, 4, 1, slot, n_rows, back.data());
        for (size_t i = 0; i < x.size(); ++i) {
          const float want = kernels::fp16_to_fp32(kernels::fp32_to_fp16(x[i]));
          ASSERT_EQ(std::memcmp(&back[i], &want, 4), 0) << kernels::isa_name(isa) << " x " << x[i];
          if (std::fabs(x[i]) < 6e4f && std::fabs(x[i]) > 6.2e-5f)  // normal halves: relative error <= 2^-11
            ASSERT_LE(std::fabs(back[i] - x[i]), std::ldexp(std::fabs(x[i]), -11));
        }
        f.store_v(2, 3, 0, slot, n_rows, x.data());
        f.load_v(2, 3, 0, slot, n_rows, back.data());
        ASSERT_EQ(std::memcmp(back.data(), x.data(), x.size() * 4), 0);
        EXPECT_EQ(std::memcmp(f.v(2, 3, 0) + slot * kHd, x.data(), x.size() * 4), 0);
      }
    }
  }
}

// Every layer's K and V of one block, exactly: copy_block duplicates it, read_block / write_block carry it as the
// documented payload (layer-major, K then V, raw elements) into another store of the same shape.
void check_block_payload(DType dt) {
  std::mt19937 rng(9);
  KvStorage a(kLayers, kBlocks, kBs, kHeads, kHd, dt), b(kLayers, kBlocks, kBs, kHeads, kHd, dt);
  std::vector<float> rows = random_rows(rng, kBs * kHd, 1.0f), got(rows.size());  // (block_size, head_dim)
  for (int64_t l = 0; l < kLayers; ++l)
    for (int64_t g = 0; g < kHeads; ++g) {
      for (float& x : rows) x += 1.0f;
      a.store_k(l, 2, g, 0, kBs, rows.data());
      for (float& x : rows) x = -x;
      a.store_v(l, 2, g, 0, kBs, rows.data());
    }
  std::vector<std::byte> payload(a.block_payload_bytes());
  a.read_block(2, payload);
  // The layout: layer l's K of head g at (2 l) * block_elems + g * bs * hd elements, V one block_elems later.
  const int64_t eb = KvStorage::dtype_bytes(dt);
  for (int64_t l = 0; l < kLayers; ++l)
    for (int64_t g = 0; g < kHeads; ++g) {
      a.load_k(l, 2, g, 0, kBs, got.data());
      std::vector<std::byte> want(kBs * kHd * eb);
      if (dt == DType::kF32) {
        std::memcpy(want.data(), got.data(), want.size());
      } else {
        std::vector<uint16_t> hv(kBs * kHd);
        kernels::ref::fp32_to_fp16_row(got.data(), hv.data(), kBs * kHd);
        std::memcpy(want.data(), hv.data(), want.size());
      }
      const int64_t off = (2 * l * a.block_elems() + g * kBs * kHd) * eb;
      ASSERT_EQ(std::memcmp(payload.data() + off, want.data(), want.size()), 0) << "layer " << l << " head " << g;
    }
  b.write_block(5, payload);
  a.copy_block(2, 0);
  std::vector<std::byte> back(a.block_payload_bytes()), copied(a.block_payload_bytes());
  b.read_block(5, back);
  a.read_block(0, copied);
  EXPECT_EQ(back, payload);
  EXPECT_EQ(copied, payload);
  // Other blocks stay zero.
  std::vector<std::byte> zero(a.block_payload_bytes(), std::byte{0});
  b.read_block(4, back);
  EXPECT_EQ(back, zero);
}

TEST(KvStorage, BlockPayloadRoundTripsF16) { check_block_payload(DType::kF16); }
TEST(KvStorage, BlockPayloadRoundTripsF32) { check_block_payload(DType::kF32); }

TEST(KvStorageDeathTest, MisuseIsABrokenInvariant) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  KvStorage h(kLayers, kBlocks, kBs, kHeads, kHd);
  std::vector<std::byte> small(10);
  EXPECT_DEATH(h.read_block(1, small), "payload size");
  EXPECT_DEATH(h.k(0, 0, 0), "f16");
  EXPECT_DEATH(KvStorage(1, 1, 1, 1, 1, DType::kQ8_0), "f16 or f32");
}

}  // namespace
}  // namespace kvs::kv
