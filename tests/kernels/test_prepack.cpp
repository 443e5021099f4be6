// Weights packed once (kernels/cpu/ops.h, register_immutable_weights): matmul over a registered range gives the
// same bits as over unregistered (repacked-per-call) weights, for every ISA, type with a packed form, m and
// precision; copies are made once per matrix and freed on release.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/dtype.h"
#include "base/thread_pool.h"
#include "kernels/cpu/ops.h"

namespace kvs::kernels {
namespace {

// n rows of k elements of block-32 type t: random quants, small f16 scales (and mins).
std::vector<uint8_t> block_weights(DType t, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t rb = dtype_row_bytes(t, k), bsz = dtype_row_bytes(t, 32);
  std::vector<uint8_t> w(static_cast<size_t>(n * rb));
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  for (int64_t off = 0; off < n * rb; off += bsz) {
    const uint16_t d = fp32_to_fp16(0.01f * u(rng) + (t == DType::kQ4_1 ? 0.012f : 0.0f));
    std::memcpy(w.data() + off, &d, 2);
    if (t == DType::kQ4_1) {
      const uint16_t mn = fp32_to_fp16(-0.08f * std::abs(u(rng)));
      std::memcpy(w.data() + off + 2, &mn, 2);
    }
  }
  return w;
}

// n rows of k elements of Q4_K (k % 256 == 0): random quants and 6-bit scales/mins, small f16 d and dmin.
std::vector<uint8_t> q4k_weights(int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const int64_t rb = dtype_row_bytes(DType::kQ4_K, k);
  std::vector<uint8_t> w(static_cast<size_t>(n * rb));
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  for (int64_t off = 0; off < n * rb; off += 144) {
    const uint16_t d = fp32_to_fp16(0.002f * u(rng) + 0.0005f), dmin = fp32_to_fp16(0.003f * u(rng));
    std::memcpy(w.data() + off, &d, 2);
    std::memcpy(w.data() + off + 2, &dmin, 2);
  }
  return w;
}

TEST(Prepack, RegisteredWeightsGiveTheSameBits) {
  ThreadPool pool(2);
  // The registry is process-wide: models other tests of this process loaded keep their packed copies.
  const size_t base = prepacked_bytes();
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!isa_supported(isa)) continue;
    ScopedIsa scoped(isa);
    // n = 77: a partial last panel; k = 320 / 576: 10 / 18 blocks per row (512 / 768 for Q4_K: whole super-blocks
    // of 256). m covers the decode kernels' row groups (8 rows and every remainder), the small-m float path's bound
    // (< 32) and the GEMM above it.
    for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ8_0, DType::kQ5_0, DType::kQ4_K}) {
     for (int64_t kk : {320, 576}) {
      const int64_t n = 77, k = t == DType::kQ4_K ? (kk == 320 ? 512 : 768) : kk;
      const std::vector<uint8_t> fresh = t == DType::kQ4_K ? q4k_weights(n, k, 5) : block_weights(t, n, k, 5);
      std::vector<uint8_t> fixed = fresh;  // the registered copy (same bytes)
      std::mt19937 rng(9);
      std::normal_distribution<float> nd;
      for (int64_t m : {1, 2, 3, 7, 8, 9, 15, 17, 31, 40}) {
        std::vector<float> x(m * k), y0(m * n), y1(m * n);
        for (float& v : x) v = nd(rng);
        for (bool int8 : {false, true}) {
          MatmulOptions opt;
          opt.int8_activations = int8;
          matmul(fresh.data(), t, n, k, x.data(), m, y0.data(), n, &pool, opt);
          register_immutable_weights(fixed.data(), fixed.size());
          matmul(fixed.data(), t, n, k, x.data(), m, y1.data(), n, &pool, opt);
          const size_t made = prepacked_bytes();
          matmul(fixed.data(), t, n, k, x.data(), m, y1.data(), n, &pool, opt);  // reuses the copy
          EXPECT_EQ(made, prepacked_bytes());
          // AVX-512 packs these types once (the float path for m >= 32 dequantises W instead).
          if (isa == Isa::kAvx512 && (int8 || m < 32)) EXPECT_GT(made, base) << dtype_name(t) << " m " << m;
          release_immutable_weights(fixed.data());
          EXPECT_EQ(base, prepacked_bytes());
          EXPECT_EQ(0, std::memcmp(y0.data(), y1.data(), y0.size() * sizeof(float)))
              << isa_name(isa) << " " << dtype_name(t) << " k " << k << " m " << m << " int8 " << int8;
          if (int8) continue;
          // The float path against the double-precision scalar reference (fp32 rounding only).
          std::vector<float> yr(m * n);
          ref::matmul(fixed.data(), t, n, k, x.data(), m, yr.data(), n);
          for (size_t i = 0; i < yr.size(); ++i)
            ASSERT_NEAR(y1[i], yr[i], 1e-4f * (1.0f + std::abs(yr[i])))
                << isa_name(isa) << " " << dtype_name(t) << " k " << k << " m " << m << " at " << i;
        }
      }
     }
    }
  }
}

}  // namespace
}  // namespace kvs::kernels
