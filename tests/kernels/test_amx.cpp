// The AMX int8 panel product (kernels/cpu/gemm_amx.h): on a CPU with AMX-INT8, matmul's int8 path gives the same
// bits with AMX on and off (VNNI) for every int8-capable type, row count (whole tiles of 16 and remainders),
// partial panels, registered (pre-packed) and unregistered weights and thread counts; and it is within the
// activation-quantisation bound of the float reference. On a CPU without AMX the test says so and is skipped
// (the VNNI path is the one every other kernel test then runs).
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

// n rows of k elements of type t: random bytes with every f16 scale (and min) overwritten by a small value.
std::vector<uint8_t> weights(DType t, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const int64_t rb = dtype_row_bytes(t, k);
  const bool kquant = t == DType::kQ4_K;
  const int64_t bsz = kquant ? 144 : dtype_row_bytes(t, 32);
  std::vector<uint8_t> w(static_cast<size_t>(n * rb));
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  for (int64_t off = 0; off < n * rb; off += bsz) {
    const uint16_t d = fp32_to_fp16(kquant ? 0.002f * u(rng) + 0.0005f : 0.02f * u(rng) - 0.01f);
    std::memcpy(w.data() + off, &d, 2);
    if (kquant || t == DType::kQ4_1 || t == DType::kQ5_1) {
      const uint16_t m = fp32_to_fp16(kquant ? 0.003f * u(rng) : -0.08f * u(rng));
      std::memcpy(w.data() + off + 2, &m, 2);
    }
  }
  return w;
}

TEST(Amx, SameBitsAsVnniAndWithinTheQuantisationBound) {
  if (!amx_supported()) GTEST_SKIP() << "this CPU (or kernel) has no AMX-INT8: the VNNI path is the int8 path here";
  ScopedIsa avx512(Isa::kAvx512);
  ThreadPool pool2(2);
  for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ4_K}) {
    const int64_t n = 77, k = t == DType::kQ4_K ? 512 : 320;
    const std::vector<uint8_t> w = weights(t, n, k, 3 + static_cast<uint32_t>(t));
    std::vector<uint8_t> reg = w;  // registered copy: the pre-packed records
    std::vector<float> wf(static_cast<size_t>(n * k));
    for (int64_t j = 0; j < n; ++j) ref::dequantize_row(t, w.data() + j * dtype_row_bytes(t, k), wf.data() + j * k, k);
    std::mt19937 rng(11);
    std::normal_distribution<float> nd;
    for (int64_t m : {16, 17, 31, 32, 47, 64, 100, 300}) {
      std::vector<float> x(static_cast<size_t>(m * k));
      for (float& v : x) v = nd(rng);
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2})
        for (bool packed : {false, true}) {
          SCOPED_TRACE(std::string(dtype_name(t)) + " m " + std::to_string(m) + (pool ? " 2 threads" : "") +
                       (packed ? " pre-packed" : ""));
          const uint8_t* wd = packed ? reg.data() : w.data();
          if (packed) register_immutable_weights(reg.data(), reg.size());
          std::vector<float> ya(static_cast<size_t>(m * n)), yv(ya.size());
          MatmulOptions o;
          o.int8_activations = true;
          {
            ScopedAmx on(true);
            EXPECT_TRUE(amx_active());
            matmul(wd, t, n, k, x.data(), m, ya.data(), n, pool, o);
          }
          {
            ScopedAmx off(false);
            EXPECT_FALSE(amx_active());
            matmul(wd, t, n, k, x.data(), m, yv.data(), n, pool, o);
          }
          if (packed) release_immutable_weights(reg.data());
          ASSERT_EQ(0, std::memcmp(ya.data(), yv.data(), ya.size() * sizeof(float)));
          // Against the float product: |err| <= sum_e |w_e| * (d_x / 2) with d_x <= max|x_b| / 127 per block.
          for (int64_t r = 0; r < m; ++r)
            for (int64_t j = 0; j < n; ++j) {
              double exact = 0, bound = 0;
              for (int64_t b = 0; b < k / 32; ++b) {
                float amax = 0;
                for (int e = 0; e < 32; ++e) amax = std::max(amax, std::abs(x[r * k + 32 * b + e]));
                for (int e = 0; e < 32; ++e) {
                  const double wv = wf[j * k + 32 * b + e];
                  exact += wv * x[r * k + 32 * b + e];
                  bound += std::abs(wv) * amax / 127.0 / 2.0;
                }
              }
              ASSERT_NEAR(ya[r * n + j], exact, 1.01 * bound + 1e-4) << "row " << r << " col " << j;
            }
        }
    }
  }
}

TEST(Amx, OnlyUnderAvx512) {
  if (!isa_supported(Isa::kAvx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  ScopedIsa avx2(Isa::kAvx2);
  EXPECT_FALSE(amx_active());
}

}  // namespace
}  // namespace kvs::kernels
