// CPU op table vs the scalar references, for every weight type and every ISA this CPU can run
// (each ISA forced with ScopedIsa). Weights are random blocks built directly (random f16 scales/mins, random
// quants), activations random normal.
#include <cpuid.h>
#include <gtest/gtest.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/thread_pool.h"
#include "kernels/cpu/ops.h"

namespace kvs::kernels {
namespace {

const DType kAllTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                           DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K};

uint16_t h(float f) { return fp32_to_fp16(f); }
void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// n rows of k elements of type t, random but realistic magnitudes (|w| ~ 0.05).
std::vector<uint8_t> random_weights(DType t, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t rb = dtype_row_bytes(t, k);
  std::vector<uint8_t> w(static_cast<size_t>(n * rb));
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const auto tr = *dtype_traits(static_cast<uint32_t>(t));
  for (int64_t j = 0; j < n; ++j) {
    uint8_t* row = w.data() + j * rb;
    for (int64_t b = 0; b < k / tr.block_size; ++b) {
      uint8_t* p = row + b * tr.type_size;
      switch (t) {
        case DType::kF32:
          for (int i = 0; i < 1; ++i) {
            float v = 0.1f * u(rng);
            std::memcpy(p, &v, 4);
          }
          break;
        case DType::kF16: put16(p, h(0.1f * u(rng))); break;
        case DType::kBF16: {
          float v = 0.1f * u(rng);
          uint32_t bits;
          std::memcpy(&bits, &v, 4);
          put16(p, static_cast<uint16_t>(bits >> 16));
          break;
        }
        case DType::kQ4_0:
        case DType::kQ5_0:
        case DType::kQ8_0: put16(p, h(0.012f * u(rng))); break;  // signed scale, as ggml allows
        case DType::kQ4_1:
        case DType::kQ5_1:
          put16(p, h(0.01f * std::fabs(u(rng)) + 1e-4f));
          put16(p + 2, h(-0.08f * std::fabs(u(rng))));
          break;
        case DType::kQ4_K:
          put16(p, h(0.002f * std::fabs(u(rng)) + 1e-5f));
          put16(p + 2, h(0.002f * std::fabs(u(rng))));
          break;
        case DType::kQ6_K: put16(p + 208, h(0.002f * u(rng))); break;
        default: ADD_FAILURE() << "no generator for " << dtype_name(t);
      }
    }
  }
  return w;
}

std::vector<float> randn(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = nd(rng);
  return v;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

// sum_e |W[j][e]| * |X[r][e]| for each (r, j): the scale of a dot product's rounding error.
std::vector<double> abs_dot(const std::vector<float>& wf, const std::vector<float>& x, int64_t m, int64_t n,
                            int64_t k) {
  std::vector<double> out(static_cast<size_t>(m * n));
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t e = 0; e < k; ++e) s += std::fabs(static_cast<double>(wf[j * k + e]) * x[r * k + e]);
      out[r * n + j] = s;
    }
  return out;
}

std::vector<float> dequantize_all(DType t, const std::vector<uint8_t>& w, int64_t n, int64_t k) {
  std::vector<float> wf(static_cast<size_t>(n * k));
  const int64_t rb = dtype_row_bytes(t, k);
  for (int64_t j = 0; j < n; ++j) ref::dequantize_row(t, w.data() + j * rb, wf.data() + j * k, k);
  return wf;
}

class OpsIsa : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam())) GTEST_SKIP() << isa_name(GetParam()) << " not supported on this CPU";
    scoped_ = std::make_unique<ScopedIsa>(GetParam());
  }
  void TearDown() override { scoped_.reset(); }
  std::unique_ptr<ScopedIsa> scoped_;
};

// ---- fp16 -------------------------------------------------------------------------------------------------------
// CPUID leaf 1, ECX bit 29 (clang before 15 rejects "f16c" in __builtin_cpu_supports).
bool cpu_has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
}
__attribute__((target("f16c"))) float hw_h2f(uint16_t x) { return _cvtsh_ss(x); }
__attribute__((target("f16c"))) uint16_t hw_f2h(float x) { return _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT); }

TEST(Fp16, ExhaustiveToFp32MatchesF16C) {
  if (!cpu_has_f16c()) GTEST_SKIP();
  for (uint32_t i = 0; i < 65536; ++i) {
    const float a = fp16_to_fp32(static_cast<uint16_t>(i)), b = hw_h2f(static_cast<uint16_t>(i));
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(a)) << i;
    } else {
      ASSERT_TRUE(same_bits(a, b)) << "half " << i << ": " << a << " vs " << b;
    }
  }
}

TEST(Fp16, FromFp32MatchesF16C) {
  if (!cpu_has_f16c()) GTEST_SKIP();
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  // random bit patterns (all exponents, NaNs, subnormals), plus every half's exact value and the midpoints.
  for (int i = 0; i < 2000000; ++i) {
    uint32_t b = bits(rng);
    float f;
    std::memcpy(&f, &b, 4);
    ASSERT_EQ(fp32_to_fp16(f), hw_f2h(f)) << "bits " << std::hex << b;
  }
  for (uint32_t i = 0; i < 65536; ++i) {
    const float f = hw_h2f(static_cast<uint16_t>(i));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), hw_f2h(f)) << i;
    const float up = std::nextafter(f, INFINITY), mid = (f + hw_h2f(static_cast<uint16_t>(i + 1))) * 0.5f;
    ASSERT_EQ(fp32_to_fp16(up), hw_f2h(up)) << i;
    if (std::isfinite(mid)) ASSERT_EQ(fp32_to_fp16(mid), hw_f2h(mid)) << i;
  }
}

// ---- dequantize / quantize ------------------------------------------------------------------------------------
TEST_P(OpsIsa, DequantizeRowIsBitExact) {
  for (DType t : kAllTypes) {
    SCOPED_TRACE(dtype_name(t));
    const int64_t k = 512;
    auto w = random_weights(t, 3, k, 11 + static_cast<uint32_t>(t));
    const int64_t rb = dtype_row_bytes(t, k);
    for (int64_t j = 0; j < 3; ++j) {
      std::vector<float> a(k), b(k);
      ref::dequantize_row(t, w.data() + j * rb, a.data(), k);
      dequantize_row(t, w.data() + j * rb, b.data(), k);
      for (int64_t e = 0; e < k; ++e) ASSERT_TRUE(same_bits(a[e], b[e])) << "row " << j << " el " << e << ": " << a[e] << " vs " << b[e];
    }
  }
}

TEST_P(OpsIsa, UnpackRowU8MatchesDequantize) {
  for (DType t : kAllTypes) {
    if (!supports_int8_activations(t)) continue;
    SCOPED_TRACE(dtype_name(t));
    const int64_t k = 512;
    auto w = random_weights(t, 1, k, 5);
    std::vector<float> a(k), d(k / 32), mn(k / 32);
    std::vector<uint8_t> q(k);
    ref::dequantize_row(t, w.data(), a.data(), k);
    ref::unpack_row_u8(t, w.data(), k, q.data(), d.data(), mn.data());
    for (int64_t e = 0; e < k; ++e) {
      const float v = q[e] * d[e / 32] + mn[e / 32];
      EXPECT_NEAR(v, a[e], 1e-6f * (std::fabs(a[e]) + std::fabs(mn[e / 32]) + 1e-6f)) << e;
    }
  }
}

TEST_P(OpsIsa, QuantizeQ8AIsBitExact) {
  const int64_t k = 1536;
  auto x = randn(k, 3);
  x[5] = 0.0f;
  for (int i = 32; i < 64; ++i) x[i] = 0.0f;  // an all-zero block: d = 0
  x[70] = 1e-30f;
  std::vector<int8_t> qa(k), qb(k);
  std::vector<float> da(k / 32), db(k / 32), sa(k / 32), sb(k / 32);
  ref::quantize_row_q8a(x.data(), k, qa.data(), da.data(), sa.data());
  quantize_row_q8a(x.data(), k, qb.data(), db.data(), sb.data());
  EXPECT_EQ(qa, qb);
  for (int64_t b = 0; b < k / 32; ++b) {
    EXPECT_TRUE(same_bits(da[b], db[b])) << b;
    EXPECT_TRUE(same_bits(sa[b], sb[b])) << b;
  }
  for (int64_t e = 0; e < k; ++e) {  // the format's contract: |x - q*d| <= d/2
    EXPECT_LE(std::fabs(x[e] - qa[e] * da[e / 32]), 0.5001f * da[e / 32] + 1e-30f) << e;
  }
}

// ---- matmul ---------------------------------------------------------------------------------------------------
struct Shape {
  int64_t m, n, k;
};
// m = 1, 3 (row kernels), 8 and 17 (GEMM with row tails), 512 (prefill); n never a multiple of the panels.
// k = 96: an odd number of 32-blocks (the 512-bit row kernels' tail); skipped for the 256-blocks types.
const Shape kShapes[] = {{1, 37, 256}, {3, 100, 512}, {2, 21, 96},    {7, 19, 96},
                         {8, 33, 256}, {17, 67, 256}, {64, 130, 512}, {512, 45, 256}};
bool fits(DType t, const Shape& s) { return s.k % dtype_traits(static_cast<uint32_t>(t))->block_size == 0; }

struct Case {
  std::vector<uint8_t> w;
  std::vector<float> wf, x, yref, yref_q8;
  std::vector<double> absdot;
};

Case build_case(DType t, const Shape& s, uint32_t seed) {
  Case c;
  c.w = random_weights(t, s.n, s.k, seed);
  c.wf = dequantize_all(t, c.w, s.n, s.k);
  c.x = randn(s.m * s.k, seed + 1);
  c.yref.resize(static_cast<size_t>(s.m * s.n));
  ref::matmul(c.w.data(), t, s.n, s.k, c.x.data(), s.m, c.yref.data(), s.n);
  if (supports_int8_activations(t)) {
    c.yref_q8.resize(static_cast<size_t>(s.m * s.n));
    ref::matmul_q8a(c.w.data(), t, s.n, s.k, c.x.data(), s.m, c.yref_q8.data(), s.n);
  }
  c.absdot = abs_dot(c.wf, c.x, s.m, s.n, s.k);
  return c;
}

// The (slow, double precision) references are shared by the ISA instantiations.
const Case& make_case(DType t, const Shape& s, uint32_t seed) {
  static std::map<std::tuple<int, int64_t, int64_t, int64_t, uint32_t>, Case> cache;
  const auto key = std::make_tuple(static_cast<int>(t), s.m, s.n, s.k, seed);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, build_case(t, s, seed)).first;
  return it->second;
}

// Runs matmul with ldy = n + 3 and checks the padding stays untouched.
std::vector<float> run_matmul(DType t, const Shape& s, const Case& c, ThreadPool* pool, const MatmulOptions& o) {
  const int64_t ldy = s.n + 3;
  std::vector<float> y(static_cast<size_t>(s.m * ldy), -777.0f);
  matmul(c.w.data(), t, s.n, s.k, c.x.data(), s.m, y.data(), ldy, pool, o);
  std::vector<float> out(static_cast<size_t>(s.m * s.n));
  for (int64_t r = 0; r < s.m; ++r) {
    for (int64_t j = 0; j < s.n; ++j) out[r * s.n + j] = y[r * ldy + j];
    for (int64_t j = s.n; j < ldy; ++j) EXPECT_EQ(y[r * ldy + j], -777.0f) << "padding written at " << r << "," << j;
  }
  return out;
}

TEST_P(OpsIsa, MatmulFloatPathMatchesReference) {
  ThreadPool pool2(2);
  for (DType t : kAllTypes) {
    for (const Shape& s : kShapes) {
      if (!fits(t, s)) continue;
      const Case& c = make_case(t, s, 100 + static_cast<uint32_t>(t));
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2}) {
        for (int variant = 0; variant < 4; ++variant) {
          // 0: auto (own GEMM for m >= 8), 1: OpenBLAS, 2: forced row kernels, 3: forced own GEMM
          if (variant >= 2 && s.m > 64) continue;
          SCOPED_TRACE(std::string(dtype_name(t)) + " m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
                       " k=" + std::to_string(s.k) + (pool ? " 2 threads" : " 1 thread") + " variant " +
                       std::to_string(variant));
          MatmulOptions o;
          o.int8_activations = false;
          if (variant == 1) o.f32_gemm = MatmulOptions::F32Gemm::kBlas;
          if (variant == 2) o.kernel = MatmulOptions::Kernel::kRows;
          if (variant == 3) o.kernel = MatmulOptions::Kernel::kGemm;
          const auto y = run_matmul(t, s, c, pool, o);
          double max_rel = 0;
          for (size_t i = 0; i < y.size(); ++i) {
            const double err = std::fabs(static_cast<double>(y[i]) - c.yref[i]);
            max_rel = std::max(max_rel, err / (c.absdot[i] + 1e-30));
            ASSERT_LE(err, 1e-5 * c.absdot[i] + 1e-7) << "at " << i << ": " << y[i] << " vs " << c.yref[i];
          }
        }
      }
    }
  }
}

TEST_P(OpsIsa, MatmulInt8PathMatchesQ8Reference) {
  ThreadPool pool2(2);
  for (DType t : kAllTypes) {
    if (!supports_int8_activations(t)) continue;
    for (const Shape& s : kShapes) {
      if (!fits(t, s)) continue;
      const Case& c = make_case(t, s, 200 + static_cast<uint32_t>(t));
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2})
      for (auto kern : {MatmulOptions::Kernel::kAuto, MatmulOptions::Kernel::kRows, MatmulOptions::Kernel::kGemm}) {
        if (kern != MatmulOptions::Kernel::kAuto && s.m > 64) continue;
        SCOPED_TRACE(std::string(dtype_name(t)) + " m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
                     " k=" + std::to_string(s.k) + (pool ? " 2 threads" : " 1 thread") + " kernel " +
                     std::to_string(static_cast<int>(kern)));
        MatmulOptions o;
        o.kernel = kern;
        const auto y = run_matmul(t, s, c, pool, o);
        double num = 0, den = 0;
        for (size_t i = 0; i < y.size(); ++i) {
          // Same quantised activations: only float summation order differs from the reference.
          const double err = std::fabs(static_cast<double>(y[i]) - c.yref_q8[i]);
          ASSERT_LE(err, 2e-5 * c.absdot[i] + 1e-7) << "at " << i << ": " << y[i] << " vs " << c.yref_q8[i];
          num += (y[i] - c.yref[i]) * (y[i] - c.yref[i]);
          den += c.yref[i] * c.yref[i];
        }
        // Against the float reference: the activation quantisation error, ~1e-2 relative at most.
        EXPECT_LT(std::sqrt(num / den), 1e-2);
      }
    }
  }
}

// |y_int8 - y_float| <= sum_b (d_x[b] / 2) * sum_{e in b} |w_e|  (+ float rounding): the Q8A rounding bound.
TEST_P(OpsIsa, MatmulInt8ErrorWithinQuantisationBound) {
  ThreadPool pool2(2);
  for (DType t : kAllTypes) {
    if (!supports_int8_activations(t)) continue;
    for (const Shape& s : {Shape{1, 50, 512}, Shape{40, 50, 512}}) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " m=" + std::to_string(s.m));
      const Case& c = make_case(t, s, 300 + static_cast<uint32_t>(t));
      const auto y = run_matmul(t, s, c, &pool2, MatmulOptions{});
      std::vector<int8_t> q(s.k);
      std::vector<float> d(s.k / 32), sx(s.k / 32);
      for (int64_t r = 0; r < s.m; ++r) {
        ref::quantize_row_q8a(c.x.data() + r * s.k, s.k, q.data(), d.data(), sx.data());
        for (int64_t j = 0; j < s.n; ++j) {
          double bound = 0;
          for (int64_t e = 0; e < s.k; ++e) bound += 0.5 * d[e / 32] * std::fabs(c.wf[j * s.k + e]);
          const double err = std::fabs(static_cast<double>(y[r * s.n + j]) - c.yref[r * s.n + j]);
          ASSERT_LE(err, bound + 2e-5 * c.absdot[r * s.n + j] + 1e-7) << r << "," << j;
        }
      }
    }
  }
}

TEST_P(OpsIsa, MatmulModelShapesSmoke) {
  // The real model's shapes (q / k,v / gate / down) through both paths, 2 threads, spot-checked rows.
  ThreadPool pool2(2);
  for (const Shape& s : {Shape{1, 576, 576}, Shape{5, 192, 576}, Shape{33, 1536, 576}, Shape{1, 576, 1536}}) {
    const Case& c = make_case(DType::kQ4_1, s, 9);
    for (bool i8 : {true, false}) {
      MatmulOptions o;
      o.int8_activations = i8;
      const auto y = run_matmul(DType::kQ4_1, s, c, &pool2, o);
      const auto& ref = i8 ? c.yref_q8 : c.yref;
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_LE(std::fabs(static_cast<double>(y[i]) - ref[i]), 2e-5 * c.absdot[i] + 1e-7) << i << (i8 ? " int8" : " f32");
    }
  }
}

// Default options: a row's output is bit-identical whatever the batch around it (m = 1, small chunks, the whole
// 40-row batch, 1 or 2 threads): batched decode == sequential decode, chunked prefill == whole prefill.
TEST_P(OpsIsa, MatmulIsBatchInvariant) {
  ThreadPool pool2(2);
  for (DType t : kAllTypes) {
    for (bool i8 : {true, false}) {
      SCOPED_TRACE(std::string(dtype_name(t)) + (i8 ? " int8" : " f32"));
      const int64_t m = 40, n = 70, k = 512;
      const auto w = random_weights(t, n, k, 60 + static_cast<uint32_t>(t));
      const auto x = randn(m * k, 61);
      MatmulOptions o;
      o.int8_activations = i8;
      std::vector<float> full(static_cast<size_t>(m * n));
      matmul(w.data(), t, n, k, x.data(), m, full.data(), n, &pool2, o);
      const int64_t cuts[] = {0, 1, 2, 3, 8, 13, 40};  // chunks of 1, 1, 1, 5, 5, 27 rows
      for (size_t c = 0; c + 1 < std::size(cuts); ++c) {
        const int64_t r0 = cuts[c], mr = cuts[c + 1] - cuts[c];
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2}) {
          std::vector<float> part(static_cast<size_t>(mr * n));
          matmul(w.data(), t, n, k, x.data() + r0 * k, mr, part.data(), n, pool, o);
          for (int64_t i = 0; i < mr * n; ++i)
            ASSERT_TRUE(same_bits(part[i], full[r0 * n + i]))
                << "rows " << r0 << "+" << mr << " el " << i << ": " << part[i] << " vs " << full[r0 * n + i];
        }
      }
    }
  }
}

TEST_P(OpsIsa, MatmulManyEqualsSeparateCalls) {
  ThreadPool pool2(2);
  const int64_t k = 256;
  const DType types[] = {DType::kQ4_1, DType::kQ8_0, DType::kF16};
  const int64_t ns[] = {96, 40, 33};
  std::vector<std::vector<uint8_t>> ws;
  for (int i = 0; i < 3; ++i) ws.push_back(random_weights(types[i], ns[i], k, 40 + i));
  for (int64_t m : {1, 5, 17}) {
    for (bool i8 : {true, false}) {
      SCOPED_TRACE("m=" + std::to_string(m) + (i8 ? " int8" : " f32"));
      MatmulOptions o;
      o.int8_activations = i8;
      const auto x = randn(m * k, 50);
      std::vector<std::vector<float>> ya(3), yb(3);
      std::vector<MatmulOut> outs;
      for (int i = 0; i < 3; ++i) {
        ya[i].assign(static_cast<size_t>(m * (ns[i] + 1)), 0.0f);
        yb[i].assign(static_cast<size_t>(m * (ns[i] + 1)), 0.0f);
        matmul(ws[i].data(), types[i], ns[i], k, x.data(), m, ya[i].data(), ns[i] + 1, &pool2, o);
        outs.push_back(MatmulOut{ws[i].data(), types[i], ns[i], yb[i].data(), ns[i] + 1});
      }
      matmul_many(outs, k, x.data(), m, &pool2, o);
      for (int i = 0; i < 3; ++i) EXPECT_EQ(ya[i], yb[i]) << i;
    }
  }
}

// ---- elementwise ----------------------------------------------------------------------------------------------
TEST_P(OpsIsa, Elementwise) {
  for (int64_t n : {1, 7, 8, 33, 576, 1537}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    auto x = randn(n, 1), w = randn(n, 2), up = randn(n, 3);
    std::vector<float> a(n), b(n);
    ref::rmsnorm(a.data(), x.data(), w.data(), n, 1e-5f);
    rmsnorm(b.data(), x.data(), w.data(), n, 1e-5f);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(a[i], b[i], 1e-5f * (std::fabs(a[i]) + 1e-3f)) << i;

    auto s = randn(n, 4, 5.0f);
    a = s;
    b = s;
    ref::softmax(a.data(), n);
    softmax(b.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(a[i], b[i], 1e-6f * std::fabs(a[i]) + 1e-9f) << i;

    auto g = randn(n, 5, 4.0f);
    a = g;
    b = g;
    ref::silu_mul(a.data(), up.data(), n);
    silu_mul(b.data(), up.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(a[i], b[i], 1e-6f * (std::fabs(a[i]) + 1e-6f)) << i;

    a = g;
    b = g;
    ref::gelu_tanh_mul(a.data(), up.data(), n);
    gelu_tanh_mul(b.data(), up.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      // An independent form: 0.5 g (1 + tanh(u)) in double.
      const double gd = g[i], u = 0.7978845608028654 * (gd + 0.044715 * gd * gd * gd);
      const double want = 0.5 * gd * (1.0 + std::tanh(u)) * up[i];
      // Float rounding of 1 + tanh(u) cancels for very negative g: the error bound scales with |g * up|.
      const double tol = 2e-5 * std::fabs(want) + 2e-7 * std::fabs(gd * up[i]) + 1e-12;
      EXPECT_NEAR(a[i], want, tol) << i;
      EXPECT_NEAR(b[i], want, tol) << i;
    }

    const float da = ref::dot_f32(x.data(), w.data(), n), db = dot_f32(x.data(), w.data(), n);
    double absd = 0;
    for (int64_t i = 0; i < n; ++i) absd += std::fabs(x[i] * w[i]);
    EXPECT_NEAR(da, db, 1e-6 * absd + 1e-7);

    a = up;
    b = up;
    ref::axpy(a.data(), x.data(), 0.37f, n);
    axpy(b.data(), x.data(), 0.37f, n);  // FMA vs mul+add: error relative to the terms, not the result
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(a[i], b[i], 1e-6f * (std::fabs(up[i]) + std::fabs(0.37f * x[i]))) << i;
  }
  // gemv / gemv_t over a KV-block-like matrix (rows = keys, cols = head_dim, lda > cols)
  for (int64_t rows : {1, 3, 4, 16, 17}) {
    for (int64_t cols : {8, 13, 64, 72, 128}) {
      SCOPED_TRACE("gemv rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
      const int64_t lda = cols + 5;
      auto a_m = randn(rows * lda, 7), xv = randn(cols, 8), wv = randn(rows, 9), y0 = randn(cols, 10);
      std::vector<float> ya(rows), yb(rows);
      ref::gemv_f32(a_m.data(), rows, cols, lda, xv.data(), ya.data());
      gemv_f32(a_m.data(), rows, cols, lda, xv.data(), yb.data());
      for (int64_t j = 0; j < rows; ++j) {
        double absd = 0;
        for (int64_t c = 0; c < cols; ++c) absd += std::fabs(a_m[j * lda + c] * xv[c]);
        EXPECT_NEAR(ya[j], yb[j], 1e-6 * absd + 1e-7) << j;
      }
      std::vector<float> ta = y0, tb = y0;
      ref::gemv_t_f32(a_m.data(), rows, cols, lda, wv.data(), ta.data());
      gemv_t_f32(a_m.data(), rows, cols, lda, wv.data(), tb.data());
      for (int64_t c = 0; c < cols; ++c) {
        double absd = std::fabs(y0[c]);
        for (int64_t j = 0; j < rows; ++j) absd += std::fabs(a_m[j * lda + c] * wv[j]);
        EXPECT_NEAR(ta[c], tb[c], 1e-6 * absd + 1e-7) << c;
      }
    }
  }
  // softmax extremes: large negative spread, a single element
  std::vector<float> v = {-1000.0f, 0.0f, -50.0f, 3.0f, -1e30f, 2.0f, 1.0f, 0.5f, -0.5f};
  std::vector<float> a = v, b = v;
  ref::softmax(a.data(), static_cast<int64_t>(a.size()));
  softmax(b.data(), static_cast<int64_t>(b.size()));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, OpsIsa, ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const ::testing::TestParamInfo<Isa>& i) { return std::string(isa_name(i.param)); });

TEST(OpsDispatch, ActiveIsaIsTheBestSupportedOrTheOverride) {
  const char* env = std::getenv("KVS_ISA");
  if (env == nullptr) {
    const Isa best = isa_supported(Isa::kAvx512) ? Isa::kAvx512 : isa_supported(Isa::kAvx2) ? Isa::kAvx2 : Isa::kScalar;
    EXPECT_EQ(current_isa(), best);
  }
  {
    ScopedIsa s(Isa::kScalar);
    EXPECT_STREQ(active_isa(), "scalar");
  }
  EXPECT_TRUE(supports_weight_type(DType::kQ4_1));
  EXPECT_FALSE(supports_weight_type(DType::kQ2_K));
  EXPECT_TRUE(supports_int8_activations(DType::kQ8_0));
  EXPECT_FALSE(supports_int8_activations(DType::kQ6_K));
}

}  // namespace
}  // namespace kvs::kernels
