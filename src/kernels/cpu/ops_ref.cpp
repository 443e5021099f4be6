// Scalar references of the CPU op table (namespace kvs::kernels::ref) and the fp16/bf16 conversions.
// Plain loops, written for clarity; the optimised kernels are tested against these.
//
// GGUF / ggml block layouts (little-endian; f16 = IEEE half). Element i of a block, value x_i:
//   Q4_0  (32 el, 18 B): f16 d; u8 qs[16]           x_i = ((qs[i%16] >> 4*(i/16)) & 15) - 8) * d
//   Q4_1  (32 el, 20 B): f16 d; f16 m; u8 qs[16]    x_i = ((qs[i%16] >> 4*(i/16)) & 15) * d + m
//   Q5_0  (32 el, 22 B): f16 d; u32 qh; u8 qs[16]   x_i = (nibble_i | ((qh >> i) & 1) << 4) - 16) * d
//   Q5_1  (32 el, 24 B): f16 d; f16 m; u32 qh; u8 qs[16]   x_i = (nibble_i | ((qh >> i) & 1) << 4) * d + m
//   Q8_0  (32 el, 34 B): f16 d; i8 qs[32]           x_i = qs[i] * d
//   Q4_K (256 el, 144 B): f16 d; f16 dmin; u8 scales[12]; u8 qs[128]. 8 sub-blocks of 32 with 6-bit scale sc_j and
//         min m_j (get_scale_min_k4). Chunk c = 0..3 covers elements 64c..64c+63: qs[32c + l] low nibble is element
//         64c + l (sub-block 2c), high nibble element 64c + 32 + l (sub-block 2c+1). x = (d*sc_j) * q - (dmin*m_j).
//   Q6_K (256 el, 210 B): u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d. Two halves of 128; in half h, for l < 32:
//         q(l)    = (ql[64h+l] & 15)    | ((qh[32h+l] >> 0) & 3) << 4,   q(l+32) = (ql[64h+l+32] & 15) | (qh >> 2 & 3) << 4,
//         q(l+64) = (ql[64h+l] >> 4)    | ((qh[32h+l] >> 4) & 3) << 4,   q(l+96) = (ql[64h+l+32] >> 4) | (qh >> 6 & 3) << 4;
//         x = (d * scales[8h + e/16]) * (q - 32) for element e of the half.
#include <cmath>
#include <cstring>
#include <vector>

#include "base/status.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/ops_internal.h"

namespace kvs::kernels {

namespace {
inline uint32_t f2u(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float u2f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t rd16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
}  // namespace

// Exact, including subnormals, infinities and NaN payloads (quiet bit set on signalling NaNs, as F16C does).
float fp16_to_fp32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --e;
      }
      mant &= 0x3ffu;
      bits = sign | (static_cast<uint32_t>(e) << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
    if (mant != 0) bits |= 0x00400000u;  // quiet NaN
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return u2f(bits);
}

// Round to nearest even, overflow to inf, NaN stays NaN (quiet, payload truncated), as F16C's vcvtps2ph.
uint16_t fp32_to_fp16(float f) {
  uint32_t x = f2u(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // NaN
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65536 -> inf
  if (ax < 0x38800000u) {  // result subnormal (or zero): value = ax * 2^24 in half-ulps
    if (ax < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25: rounds to 0
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    int shift = 126 - static_cast<int>(e);  // e in [102, 112]: shift in [14, 24]
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);  // round mantissa to 10 bits (ties to even)
  r -= (127u - 15u) << 23;
  return static_cast<uint16_t>(sign | (r >> 13));
}

float bf16_to_fp32(uint16_t h) { return u2f(static_cast<uint32_t>(h) << 16); }

namespace ref {

namespace {

// 6-bit scale and min of sub-block j of a Q4_K super-block (ggml's get_scale_min_k4).
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t k) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, p, static_cast<size_t>(k) * 4);
      return;
    case DType::kF16:
      for (int64_t i = 0; i < k; ++i) dst[i] = fp16_to_fp32(rd16(p + 2 * i));
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < k; ++i) dst[i] = bf16_to_fp32(rd16(p + 2 * i));
      return;
    case DType::kQ4_0:
      KVS_CHECK(k % 32 == 0);
      for (int64_t b = 0; b < k / 32; ++b, p += 18) {
        float d = fp16_to_fp32(rd16(p));
        for (int i = 0; i < 16; ++i) {
          dst[32 * b + i] = static_cast<float>((p[2 + i] & 0xF) - 8) * d;
          dst[32 * b + i + 16] = static_cast<float>((p[2 + i] >> 4) - 8) * d;
        }
      }
      return;
    case DType::kQ4_1:
      KVS_CHECK(k % 32 == 0);
      for (int64_t b = 0; b < k / 32; ++b, p += 20) {
        float d = fp16_to_fp32(rd16(p)), m = fp16_to_fp32(rd16(p + 2));
        for (int i = 0; i < 16; ++i) {
          float a = static_cast<float>(p[4 + i] & 0xF) * d;
          float c = static_cast<float>(p[4 + i] >> 4) * d;
          dst[32 * b + i] = a + m;
          dst[32 * b + i + 16] = c + m;
        }
      }
      return;
    case DType::kQ5_0:
      KVS_CHECK(k % 32 == 0);
      for (int64_t b = 0; b < k / 32; ++b, p += 22) {
        float d = fp16_to_fp32(rd16(p));
        uint32_t qh = rd32(p + 2);
        for (int i = 0; i < 16; ++i) {
          int q0 = (p[6 + i] & 0xF) | (((qh >> i) & 1) << 4);
          int q1 = (p[6 + i] >> 4) | (((qh >> (i + 16)) & 1) << 4);
          dst[32 * b + i] = static_cast<float>(q0 - 16) * d;
          dst[32 * b + i + 16] = static_cast<float>(q1 - 16) * d;
        }
      }
      return;
    case DType::kQ5_1:
      KVS_CHECK(k % 32 == 0);
      for (int64_t b = 0; b < k / 32; ++b, p += 24) {
        float d = fp16_to_fp32(rd16(p)), m = fp16_to_fp32(rd16(p + 2));
        uint32_t qh = rd32(p + 4);
        for (int i = 0; i < 16; ++i) {
          int q0 = (p[8 + i] & 0xF) | (((qh >> i) & 1) << 4);
          int q1 = (p[8 + i] >> 4) | (((qh >> (i + 16)) & 1) << 4);
          float a = static_cast<float>(q0) * d;
          float c = static_cast<float>(q1) * d;
          dst[32 * b + i] = a + m;
          dst[32 * b + i + 16] = c + m;
        }
      }
      return;
    case DType::kQ8_0:
      KVS_CHECK(k % 32 == 0);
      for (int64_t b = 0; b < k / 32; ++b, p += 34) {
        float d = fp16_to_fp32(rd16(p));
        for (int i = 0; i < 32; ++i) dst[32 * b + i] = static_cast<float>(static_cast<int8_t>(p[2 + i])) * d;
      }
      return;
    case DType::kQ4_K:
      KVS_CHECK(k % 256 == 0);
      for (int64_t b = 0; b < k / 256; ++b, p += 144) {
        float d = fp16_to_fp32(rd16(p)), dmin = fp16_to_fp32(rd16(p + 2));
        const uint8_t* sc = p + 4;
        const uint8_t* qs = p + 16;
        float* y = dst + 256 * b;
        for (int c = 0; c < 4; ++c) {
          uint8_t s0, m0, s1, m1;
          scale_min_k4(2 * c, sc, &s0, &m0);
          scale_min_k4(2 * c + 1, sc, &s1, &m1);
          float d0 = d * s0, mm0 = dmin * m0, d1 = d * s1, mm1 = dmin * m1;
          for (int l = 0; l < 32; ++l) {
            float a = d0 * static_cast<float>(qs[32 * c + l] & 0xF);
            float e = d1 * static_cast<float>(qs[32 * c + l] >> 4);
            y[64 * c + l] = a - mm0;
            y[64 * c + 32 + l] = e - mm1;
          }
        }
      }
      return;
    case DType::kQ6_K:
      KVS_CHECK(k % 256 == 0);
      for (int64_t b = 0; b < k / 256; ++b, p += 210) {
        const uint8_t* ql = p;
        const uint8_t* qh = p + 128;
        const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192);
        float d = fp16_to_fp32(rd16(p + 208));
        float* y = dst + 256 * b;
        for (int h = 0; h < 2; ++h) {
          for (int l = 0; l < 32; ++l) {
            int is = l / 16;
            int q1 = ((ql[64 * h + l] & 0xF) | (((qh[32 * h + l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[64 * h + l + 32] & 0xF) | (((qh[32 * h + l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[64 * h + l] >> 4) | (((qh[32 * h + l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[64 * h + l + 32] >> 4) | (((qh[32 * h + l] >> 6) & 3) << 4)) - 32;
            y[128 * h + l] = (d * sc[8 * h + is + 0]) * static_cast<float>(q1);
            y[128 * h + l + 32] = (d * sc[8 * h + is + 2]) * static_cast<float>(q2);
            y[128 * h + l + 64] = (d * sc[8 * h + is + 4]) * static_cast<float>(q3);
            y[128 * h + l + 96] = (d * sc[8 * h + is + 6]) * static_cast<float>(q4);
          }
        }
      }
      return;
    default:
      KVS_CHECK(false && "dequantize_row: unsupported type");
  }
}

void unpack_row_u8(DType t, const void* src, int64_t k, uint8_t* q, float* d, float* mn) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  KVS_CHECK(k % 32 == 0);
  const int64_t nb = k / 32;
  switch (t) {
    case DType::kQ4_0:
    case DType::kQ4_1: {
      const bool has_m = t == DType::kQ4_1;
      const int64_t bs = has_m ? 20 : 18;
      for (int64_t b = 0; b < nb; ++b, p += bs) {
        d[b] = fp16_to_fp32(rd16(p));
        mn[b] = has_m ? fp16_to_fp32(rd16(p + 2)) : -8.0f * d[b];
        const uint8_t* qs = p + (has_m ? 4 : 2);
        for (int i = 0; i < 16; ++i) {
          q[32 * b + i] = qs[i] & 0xF;
          q[32 * b + i + 16] = qs[i] >> 4;
        }
      }
      return;
    }
    case DType::kQ5_0:
    case DType::kQ5_1: {
      const bool has_m = t == DType::kQ5_1;
      const int64_t bs = has_m ? 24 : 22;
      for (int64_t b = 0; b < nb; ++b, p += bs) {
        d[b] = fp16_to_fp32(rd16(p));
        mn[b] = has_m ? fp16_to_fp32(rd16(p + 2)) : -16.0f * d[b];
        uint32_t qh = rd32(p + (has_m ? 4 : 2));
        const uint8_t* qs = p + (has_m ? 8 : 6);
        for (int i = 0; i < 16; ++i) {
          q[32 * b + i] = static_cast<uint8_t>((qs[i] & 0xF) | (((qh >> i) & 1) << 4));
          q[32 * b + i + 16] = static_cast<uint8_t>((qs[i] >> 4) | (((qh >> (i + 16)) & 1) << 4));
        }
      }
      return;
    }
    case DType::kQ8_0:
      for (int64_t b = 0; b < nb; ++b, p += 34) {
        d[b] = fp16_to_fp32(rd16(p));
        mn[b] = -128.0f * d[b];
        for (int i = 0; i < 32; ++i) q[32 * b + i] = static_cast<uint8_t>(p[2 + i] ^ 0x80);  // w + 128
      }
      return;
    case DType::kQ4_K:
      KVS_CHECK(k % 256 == 0);
      for (int64_t b = 0; b < k / 256; ++b, p += 144) {
        float dd = fp16_to_fp32(rd16(p)), dmin = fp16_to_fp32(rd16(p + 2));
        const uint8_t* qs = p + 16;
        for (int j = 0; j < 8; ++j) {
          uint8_t s, m;
          scale_min_k4(j, p + 4, &s, &m);
          d[8 * b + j] = dd * s;
          mn[8 * b + j] = -(dmin * m);
        }
        for (int c = 0; c < 4; ++c)
          for (int l = 0; l < 32; ++l) {
            q[256 * b + 64 * c + l] = qs[32 * c + l] & 0xF;
            q[256 * b + 64 * c + 32 + l] = qs[32 * c + l] >> 4;
          }
      }
      return;
    default:
      KVS_CHECK(false && "unpack_row_u8: type has no int8 form");
  }
}

void quantize_row_q8a(const float* x, int64_t k, int8_t* q, float* d, float* s) {
  KVS_CHECK(k % 32 == 0);
  for (int64_t b = 0; b < k / 32; ++b) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[32 * b + i]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      float v = std::nearbyint(x[32 * b + i] * id);  // ties to even (default rounding mode), as cvtps2dq
      v = std::fmin(127.0f, std::fmax(-127.0f, v));
      q[32 * b + i] = static_cast<int8_t>(v);
      sum += q[32 * b + i];
    }
    d[b] = db;
    s[b] = db * static_cast<float>(sum);
  }
}

void matmul(const void* w, DType wt, int64_t n, int64_t k, const float* x, int64_t m, float* y, int64_t ldy) {
  const int64_t rb = dtype_row_bytes(wt, k);
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t j = 0; j < n; ++j) {
    dequantize_row(wt, static_cast<const uint8_t*>(w) + j * rb, row.data(), k);
    for (int64_t i = 0; i < m; ++i) {
      double acc = 0.0;
      for (int64_t e = 0; e < k; ++e) acc += static_cast<double>(row[e]) * x[i * k + e];
      y[i * ldy + j] = static_cast<float>(acc);
    }
  }
}

void matmul_q8a(const void* w, DType wt, int64_t n, int64_t k, const float* x, int64_t m, float* y, int64_t ldy) {
  KVS_CHECK(detail::int8_capable(wt));
  // X replaced by its Q8A dequantisation q * d; then the float reference.
  std::vector<float> xd(static_cast<size_t>(m * k));
  std::vector<int8_t> q(static_cast<size_t>(k));
  std::vector<float> d(static_cast<size_t>(k / 32)), s(static_cast<size_t>(k / 32));
  for (int64_t i = 0; i < m; ++i) {
    quantize_row_q8a(x + i * k, k, q.data(), d.data(), s.data());
    for (int64_t e = 0; e < k; ++e) xd[i * k + e] = static_cast<float>(q[e]) * d[e / 32];
  }
  matmul(w, wt, n, k, xd.data(), m, y, ldy);
}

void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * w[i];
}

void softmax(float* x, int64_t m) {
  if (m <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < m; ++i) mx = std::fmax(mx, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < m; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < m; ++i) x[i] *= inv;
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void gelu_tanh_mul(float* gate, const float* up, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * (g + 0.044715f * g * g * g))) * up[i];
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(acc);
}

void axpy(float* y, const float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void gemv_f32(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* x, float* y) {
  for (int64_t j = 0; j < rows; ++j) y[j] = dot_f32(a + j * lda, x, cols);
}

void gemv_t_f32(const float* a, int64_t rows, int64_t cols, int64_t lda, const float* w, float* y) {
  for (int64_t c = 0; c < cols; ++c) {
    double acc = y[c];
    for (int64_t j = 0; j < rows; ++j) acc += static_cast<double>(w[j]) * a[j * lda + c];
    y[c] = static_cast<float>(acc);
  }
}

}  // namespace ref
}  // namespace kvs::kernels
