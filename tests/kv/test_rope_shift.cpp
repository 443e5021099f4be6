#include "kv/rope_shift.h"

#include <gtest/gtest.h>

#include "kernels/cpu/f16.h"
#include "kernels/cpu/ops.h"

#include <cmath>
#include <random>
#include <vector>

namespace kvs::kv {
namespace {

using kernels::RopeTable;
using kernels::RopeType;

// x: (n_rows, head_dim) rotated in place as if each row were at position pos.
void rotate_at(float* x, int n_rows, const RopeTable& rope, double pos, RopeType type) {
  std::vector<float> c(rope.head_dim / 2), s(rope.head_dim / 2);
  rope.angles(pos, c.data(), s.data());
  kernels::rope_apply(x, n_rows, rope.head_dim, c.data(), s.data(), type);
}

std::vector<float> random_vec(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(RopeShift, ShiftComposesWithRotation) {
  std::mt19937 rng(42);
  const int hd = 64, rows = 4;
  for (double theta : {10000.0, 1000000.0}) {
    const RopeTable rope = kernels::make_rope_table(hd, theta);
    for (RopeType type : {RopeType::kNorm, RopeType::kNeox}) {
      for (int64_t p : {0, 1, 7, 100, 1000, 4095, 8000}) {
        for (int64_t d : {-8000, -1000, -37, -1, 1, 2, 3, 517, 4000, 8000}) {
          const std::vector<float> x = random_vec(rng, rows * hd);  // (rows, head_dim) pre-RoPE
          std::vector<float> shifted = x, direct = x;
          rotate_at(shifted.data(), rows, rope, static_cast<double>(p), type);
          rope_shift_rows(shifted.data(), rows, d, rope, type);
          rotate_at(direct.data(), rows, rope, static_cast<double>(p + d), type);
          EXPECT_LT(max_abs_diff(shifted, direct), 1e-4f)
              << "theta " << theta << " type " << static_cast<int>(type) << " p " << p << " d " << d;
        }
      }
    }
  }
}

TEST(RopeShift, ZeroShiftIsIdentityAndRoundTrip) {
  std::mt19937 rng(1);
  const RopeTable rope = kernels::make_rope_table(128, 10000.0);
  const std::vector<float> x = random_vec(rng, 3 * 128);
  std::vector<float> y = x;
  rope_shift_rows(y.data(), 3, 0, rope, RopeType::kNorm);
  EXPECT_EQ(y, x);
  rope_shift_rows(y.data(), 3, 1234, rope, RopeType::kNeox);
  EXPECT_GT(max_abs_diff(y, x), 1e-2f);
  rope_shift_rows(y.data(), 3, -1234, rope, RopeType::kNeox);
  EXPECT_LT(max_abs_diff(y, x), 1e-5f);
}

TEST(RopeShift, NormPreserved) {
  std::mt19937 rng(2);
  const RopeTable rope = kernels::make_rope_table(64, 10000.0);
  std::vector<float> x = random_vec(rng, 64);
  double n0 = 0, n1 = 0;
  for (float v : x) n0 += v * v;
  rope_shift_rows(x.data(), 1, 777, rope, RopeType::kNorm);
  for (float v : x) n1 += v * v;
  EXPECT_NEAR(n0, n1, 1e-4 * n0);
}

// A small paged cache: K of every slot of a "donor" sequence is stored rotated at its slot position.
struct Fixture {
  static constexpr int64_t kLayers = 2, kBlocks = 16, kBs = 4, kHeads = 2, kHd = 8;
  KvStorage kv;
  RopeTable rope = kernels::make_rope_table(kHd, 10000.0);
  std::vector<std::vector<float>> pre_k;  // (layer * head * block * bs) -> (head_dim) pre-RoPE K of a slot

  // Fills every block with random V and random pre-RoPE K, stored rotated at the position the slot has in
  // `blocks` (other blocks: rotated at 0).
  Fixture(std::span<const int32_t> blocks, RopeType type, uint32_t seed, DType dtype = DType::kF32)
      : kv(kLayers, kBlocks, kBs, kHeads, kHd, dtype) {
    std::mt19937 rng(seed);
    pre_k.resize(kLayers * kHeads * kBlocks * kBs);
    std::vector<int64_t> block_pos(kBlocks, 0);  // position of the block's first slot in the donor
    for (size_t i = 0; i < blocks.size(); ++i) block_pos[blocks[i]] = static_cast<int64_t>(i) * kBs;
    for (int64_t l = 0; l < kLayers; ++l)
      for (int64_t b = 0; b < kBlocks; ++b)
        for (int64_t h = 0; h < kHeads; ++h)
          for (int64_t o = 0; o < kBs; ++o) {
            std::vector<float> x = random_vec(rng, kHd);
            pre_k[index(l, b, h, o)] = x;
            rotate_at(x.data(), 1, rope, static_cast<double>(block_pos[b] + o), type);
            kv.store_k(l, b, h, o, 1, x.data());
            const std::vector<float> v = random_vec(rng, kHd);
            kv.store_v(l, b, h, o, 1, v.data());
          }
  }
  static int64_t index(int64_t l, int64_t b, int64_t h, int64_t o) { return ((l * kBlocks + b) * kHeads + h) * kBs + o; }

  // Copy of all K and V as floats (exact for both storage types), to check what changed.
  std::vector<float> snapshot() const {
    std::vector<float> s, row(kBs * kHd);  // row: (block_size, head_dim)
    for (int64_t l = 0; l < kLayers; ++l)
      for (int64_t b = 0; b < kBlocks; ++b)
        for (int64_t h = 0; h < kHeads; ++h) {
          kv.load_k(l, b, h, 0, kBs, row.data());
          s.insert(s.end(), row.begin(), row.end());
          kv.load_v(l, b, h, 0, kBs, row.data());
          s.insert(s.end(), row.begin(), row.end());
        }
    return s;
  }
  // Offset of (l, b, h, o) K row in snapshot(); V row is + kBs * kHd.
  static int64_t snap_k(int64_t l, int64_t b, int64_t h, int64_t o) {
    return (((l * kBlocks + b) * kHeads + h) * 2 * kBs + o) * kHd;
  }
};

// f16 storage: the scalar reference of one copied K row: the stored source halves converted exactly (scalar),
// rotated by d in float, rounded to nearest even by the scalar converter.
std::vector<float> f16_reference_k(const std::vector<float>& src_row, int64_t d, const RopeTable& rope, RopeType type) {
  const int64_t hd = static_cast<int64_t>(src_row.size());
  std::vector<float> x(hd);
  for (int64_t j = 0; j < hd; ++j) x[j] = src_row[j];  // exact: the snapshot holds the f16 values
  rope_shift_rows(x.data(), 1, d, rope, type);
  std::vector<uint16_t> h(hd);
  kernels::ref::fp32_to_fp16_row(x.data(), h.data(), hd);
  for (int64_t j = 0; j < hd; ++j) x[j] = kernels::fp16_to_fp32(h[j]);
  return x;
}

void check_copy(std::span<const int32_t> src_blocks, int64_t src_pos, std::span<const int32_t> dst_blocks,
                int64_t dst_pos, int64_t n, RopeType type, DType dtype = DType::kF32) {
  Fixture f(src_blocks, type, static_cast<uint32_t>(src_pos * 131 + dst_pos * 17 + n), dtype);
  const bool f16 = dtype == DType::kF16;
  const int64_t bs = Fixture::kBs, hd = Fixture::kHd;
  const std::vector<float> before = f.snapshot();
  copy_and_shift(f.kv, src_blocks, src_pos, dst_blocks, dst_pos, n, f.rope, type);
  const std::vector<float> after = f.snapshot();

  std::vector<bool> written(after.size(), false);  // floats the copy was allowed to change
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = src_pos + i, t = dst_pos + i;
    const int64_t sb = src_blocks[s / bs], so = s % bs, tb = dst_blocks[t / bs], to = t % bs;
    for (int64_t l = 0; l < Fixture::kLayers; ++l)
      for (int64_t h = 0; h < Fixture::kHeads; ++h) {
        const int64_t sk = Fixture::snap_k(l, sb, h, so), tk = Fixture::snap_k(l, tb, h, to);
        const int64_t sv = sk + bs * hd, tv = tk + bs * hd;
        // V bit-exact.
        for (int64_t j = 0; j < hd; ++j) ASSERT_EQ(after[tv + j], before[sv + j]) << "V slot " << t << " dim " << j;
        // K equals the pre-RoPE K rotated at the new position.
        std::vector<float> want = f.pre_k[Fixture::index(l, sb, h, so)];
        rotate_at(want.data(), 1, f.rope, static_cast<double>(t), type);
        // f16: two roundings of at most half an ulp (2^-11 relative) each: the stored source (rotated with its
        // pair, so bounded by the row's largest element) and the stored copy.
        const std::vector<float> src_row(before.begin() + sk, before.begin() + sk + hd);
        const std::vector<float> ref16 = f16 ? f16_reference_k(src_row, t - s, f.rope, type) : std::vector<float>{};
        float row_max = 0;
        for (float x : want) row_max = std::max(row_max, std::fabs(x));
        for (int64_t j = 0; j < hd; ++j) {
          const float tol = f16 ? 1e-4f + std::ldexp(1.5f * row_max + std::fabs(want[j]), -11) : 1e-4f;
          ASSERT_NEAR(after[tk + j], want[j], tol) << "K slot " << t << " dim " << j;
          if (f16) {
            ASSERT_EQ(after[tk + j], ref16[j]) << "f16 K slot " << t << " dim " << j << " differs from the scalar reference";
          }
          if (t == s) {
            ASSERT_EQ(after[tk + j], before[sk + j]) << "d == 0 must copy K bit-exactly";
          }
        }
        for (int64_t j = 0; j < hd; ++j) written[tk + j] = written[tv + j] = true;
      }
  }
  // Everything else, including every source slot, is untouched.
  for (size_t i = 0; i < after.size(); ++i) {
    if (!written[i]) {
      ASSERT_EQ(after[i], before[i]) << "float " << i << " changed outside the destination";
    }
  }
}

TEST(RopeShift, CopyAcrossBlocksWithUnalignedOffsets) {
  const std::vector<int32_t> src = {3, 7, 1, 9};       // donor slots 0..15
  const std::vector<int32_t> dst = {2, 5, 10, 11, 4};  // new sequence slots 0..19
  for (RopeType type : {RopeType::kNorm, RopeType::kNeox}) {
    check_copy(src, 2, dst, 5, 11, type);   // +3, spans 3 source and 4 destination blocks
    check_copy(src, 9, dst, 1, 7, type);    // -8
    check_copy(src, 0, dst, 4, 16, type);   // whole donor, block-aligned, +4
    check_copy(src, 1, dst, 1, 14, type);   // d == 0: plain copy
    check_copy(src, 15, dst, 19, 1, type);  // single slot at both ends
    check_copy(src, 5, dst, 0, 0, type);    // empty run
    if (HasFatalFailure()) return;
  }
}

TEST(RopeShift, RandomRunsMatchReference) {
  std::mt19937 rng(77);
  const std::vector<int32_t> src = {6, 0, 13, 2, 8};      // slots 0..19
  const std::vector<int32_t> dst = {1, 15, 3, 12, 5, 9};  // slots 0..23
  for (int iter = 0; iter < 60; ++iter) {
    const int64_t n = rng() % 20;
    const int64_t sp = rng() % (20 - n + 1), dp = rng() % (24 - n + 1);
    check_copy(src, sp, dst, dp, n, iter % 2 ? RopeType::kNorm : RopeType::kNeox);
    if (HasFatalFailure()) return;
  }
}

// f16 storage: the same runs, K rotated in float and rounded once; equal to the scalar reference bit for bit.
TEST(RopeShift, F16StorageMatchesScalarReference) {
  std::mt19937 rng(91);
  const std::vector<int32_t> src = {6, 0, 13, 2, 8};      // slots 0..19
  const std::vector<int32_t> dst = {1, 15, 3, 12, 5, 9};  // slots 0..23
  for (kernels::Isa isa : {kernels::Isa::kScalar, kernels::Isa::kAvx2, kernels::Isa::kAvx512}) {
    if (!kernels::isa_supported(isa)) continue;
    kernels::ScopedIsa scoped(isa);
    check_copy(src, 2, dst, 5, 11, RopeType::kNeox, DType::kF16);
    check_copy(src, 1, dst, 1, 14, RopeType::kNorm, DType::kF16);  // d == 0: bit-exact copy
    for (int iter = 0; iter < 30; ++iter) {
      const int64_t n = rng() % 20;
      const int64_t sp = rng() % (20 - n + 1), dp = rng() % (24 - n + 1);
      check_copy(src, sp, dst, dp, n, iter % 2 ? RopeType::kNorm : RopeType::kNeox, DType::kF16);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(RopeShift, SameBlockTableDisjointSlots) {
  // Moving slots inside one block table is allowed when source and destination do not overlap.
  const std::vector<int32_t> blocks = {4, 6, 8, 10};
  check_copy(blocks, 0, blocks, 8, 6, RopeType::kNeox);
  check_copy(blocks, 12, blocks, 1, 3, RopeType::kNorm);
}

// Gemma 3: local and global layers rotate with different bases; each layer's moved K must be its pre-RoPE K
// rotated at the new position with that layer's own table (one table for all would be wrong on one of them).
TEST(RopeShift, PerLayerTablesRotateEachLayerWithItsOwnBase) {
  constexpr int64_t kLayers = 2, kBs = 4, kHd = 8;
  KvStorage kv{kLayers, 8, kBs, 1, kHd, DType::kF32};
  const RopeTable local = kernels::make_rope_table(kHd, 10000.0), global = kernels::make_rope_table(kHd, 1e6);
  const std::vector<const RopeTable*> per_layer = {&local, &global};
  const std::vector<int32_t> src = {0, 1}, dst = {4, 5, 6};
  std::mt19937 rng(3);
  std::vector<std::vector<float>> pre(kLayers * 8);  // (layer, donor slot) pre-RoPE K
  for (int64_t l = 0; l < kLayers; ++l)
    for (int64_t p = 0; p < 8; ++p) {
      pre[l * 8 + p] = random_vec(rng, kHd);
      std::vector<float> x = pre[l * 8 + p];
      rotate_at(x.data(), 1, *per_layer[l], static_cast<double>(p), RopeType::kNeox);
      std::copy(x.begin(), x.end(), kv.k(l, src[p / kBs], 0) + (p % kBs) * kHd);
    }
  copy_and_shift(kv, src, 1, dst, 6, 6, per_layer, RopeType::kNeox);  // slots 1..6 -> 6..11 (+5)
  for (int64_t l = 0; l < kLayers; ++l)
    for (int64_t i = 0; i < 6; ++i) {
      std::vector<float> want = pre[l * 8 + 1 + i];
      rotate_at(want.data(), 1, *per_layer[l], static_cast<double>(6 + i), RopeType::kNeox);
      const float* got = kv.k(l, dst[(6 + i) / kBs], 0) + ((6 + i) % kBs) * kHd;
      EXPECT_LT(max_abs_diff(want, std::vector<float>(got, got + kHd)), 1e-5) << "layer " << l << " slot " << i;
    }
}

TEST(RopeShiftDeathTest, OverlapIsABrokenInvariant) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::vector<int32_t> blocks = {4, 6, 8, 10};
  const std::vector<int32_t> alias = {9, 6, 11};  // shares physical block 6 with `blocks`
  Fixture f(blocks, RopeType::kNorm, 3);
  EXPECT_DEATH(copy_and_shift(f.kv, blocks, 0, blocks, 3, 6, f.rope, RopeType::kNorm), "overlap");
  EXPECT_DEATH(copy_and_shift(f.kv, blocks, 4, alias, 5, 2, f.rope, RopeType::kNorm), "overlap");
  EXPECT_DEATH(copy_and_shift(f.kv, blocks, 10, alias, 0, 7, f.rope, RopeType::kNorm), "outside");
}

}  // namespace
}  // namespace kvs::kv
