// Row kernels (decode, m < 4) with 512-bit registers. int8 path: two 32-element blocks per vpdpbusd; float path:
// fused dequantise-and-dot (dot_blocks_f32, below).
// For Q4_0 / Q4_1 / Q8_0 (the model's linear layers and output head); other types and an odd last block go to
// the 256-bit kernel (kernels_256.inc).
//
// Per pair of blocks (b, b+1) of a W row: the 2 x 16 nibble bytes become one zmm [lo(b) hi(b) lo(b+1) hi(b+1)],
// the f16 scale/min pairs one xmm [d_b m_b d_b+1 m_b+1]. Per X row: one vpdpbusd against the 64 activation bytes,
// int32 -> float, times [d_b*dx_b (x8), d_b+1*dx_b+1 (x8)], accumulated; the min term m*s in a 4-lane accumulator.
// The X side is expanded once per call: dxe = [dx_b x8, dx_b+1 x8] and sxe = [0, s_b, 0, s_b+1].
// W is streamed with a software prefetch 3 KiB ahead (decode is bound by reading W from L3/DRAM).
// Q4_0 is run as the min type with m = -8d; Q8_0 as signed x signed (|w| and x negated where w < 0).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positives inside its AVX-512 headers
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/ops_internal.h"

namespace kvs::kernels::avx512 {

void rows_q8a_256(const detail::WView& w, int64_t j0, int64_t j1, const detail::QActs& x, int64_t m, float* y,
                  int64_t ldy, void* scratch);
void rows_f32_256(const detail::WView& w, int64_t j0, int64_t j1, const float* x, int64_t m, float* y, int64_t ldy,
                  void* scratch);

namespace {

using detail::QActs;
using detail::WView;

constexpr int kMaxRows = 8;
// Software prefetch distance in bytes of W (decode reads W once from L3/DRAM; measured on cold weights:
// 0 -> 83 us, 1024 -> 67 us, 2048..4096 -> 61 us for the 1536x576 Q4_1 matrix on one core).
constexpr int kPrefetch = 3072;

inline uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float hsum16(__m512 v) { return _mm512_reduce_add_ps(v); }

// Broadcast lane 0 of a 4-lane vector to lanes 0..7 and lane 2 to lanes 8..15.
inline __m512 spread_d(__m128 dm4) {
  const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
  return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(dm4));
}

struct XExp {
  const float* dxe;  // (m, npairs * 16)
  const float* sxe;  // (m, npairs * 4)
};

// kType: 0 = Q4_1, 1 = Q4_0, 2 = Q8_0.
// Decodes the pair of blocks pb of a row: 64 weight bytes (u8 nibbles, or s8 for Q8_0) and [d, m, d', m'].
template <int kType>
inline __m512i load_pair(const uint8_t* row, int64_t pb, __m128* dm4) {
  if constexpr (kType == 2) {
    const uint8_t* p = row + 68 * pb;
    *dm4 = _mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128(static_cast<int>(rd32(p) & 0xFFFF)),
                                         static_cast<int>(rd32(p + 34) & 0xFFFF), 1));  // [d_b, 0, d_b+1, 0]
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2))),
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 36)), 1);
  } else {
    constexpr int bs = kType == 0 ? 20 : 18;
    constexpr int qo = kType == 0 ? 4 : 2;
    const uint8_t* p = row + 2 * bs * pb;
    const __m256i r0v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + qo)));
    const __m256i r1v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + bs + qo)));
    __m512i wq = _mm512_inserti64x4(_mm512_castsi256_si512(r0v), r1v, 1);
    wq = _mm512_and_si512(_mm512_mask_srli_epi16(wq, 0xFF00FF00u, wq, 4), _mm512_set1_epi8(0x0F));
    if constexpr (kType == 0) {
      *dm4 = _mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128(static_cast<int>(rd32(p))), static_cast<int>(rd32(p + bs)), 1));
    } else {  // Q4_0: [d, -8d] pairs
      const __m128i dd = _mm_insert_epi32(_mm_cvtsi32_si128(static_cast<int>(rd32(p) & 0xFFFF)),
                                          static_cast<int>(rd32(p + bs) & 0xFFFF), 1);
      *dm4 = _mm_mul_ps(_mm_cvtph_ps(_mm_shufflelo_epi16(dd, 0xA0)), _mm_setr_ps(1.0f, -8.0f, 1.0f, -8.0f));
    }
    return wq;
  }
}

// R rows of X against one W row. Two accumulator sets (even / odd pairs) break the FMA latency chain.
template <int kType, int R>
inline void dot_pairs(const uint8_t* row, int64_t npairs, const QActs& x, const XExp& xe, int64_t r0, float* out) {
  __m512 acc[2][R];
  __m128 macc[2][R];
  #pragma GCC unroll 16
  for (int u = 0; u < 2; ++u)
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      acc[u][r] = _mm512_setzero_ps();
      macc[u][r] = _mm_setzero_ps();
    }
  const int64_t k = x.k;
  auto step = [&](int64_t pb, int u) __attribute__((always_inline)) {
    {
      constexpr int pbytes = kType == 0 ? 40 : kType == 1 ? 36 : 68;
      _mm_prefetch(reinterpret_cast<const char*>(row + pbytes * pb + kPrefetch), _MM_HINT_T0);
    }
    __m128 dm4;
    const __m512i wq = load_pair<kType>(row, pb, &dm4);
    const __m512 dw = spread_d(dm4);
    __m512i aw = wq;
    __mmask64 neg = 0;
    if constexpr (kType == 2) {
      aw = _mm512_abs_epi8(wq);
      neg = _mm512_movepi8_mask(wq);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const int64_t row_i = r0 + r;
      __m512i xq = _mm512_loadu_si512(x.q + row_i * k + 64 * pb);
      if constexpr (kType == 2) xq = _mm512_mask_sub_epi8(xq, neg, _mm512_setzero_si512(), xq);
      const __m512i is = _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, xq);
      const __m512 sc = _mm512_mul_ps(dw, _mm512_loadu_ps(xe.dxe + row_i * npairs * 16 + 16 * pb));
      acc[u][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), sc, acc[u][r]);
      if constexpr (kType != 2)
        macc[u][r] = _mm_fmadd_ps(dm4, _mm_loadu_ps(xe.sxe + row_i * npairs * 4 + 4 * pb), macc[u][r]);
    }
  };
  int64_t pb = 0;
  for (; pb + 2 <= npairs; pb += 2) {
    step(pb, 0);
    step(pb + 1, 1);
  }
  if (pb < npairs) step(pb, 0);
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float s = hsum16(_mm512_add_ps(acc[0][r], acc[1][r]));
    if constexpr (kType != 2) {
      const __m128 m = _mm_add_ps(macc[0][r], macc[1][r]);
      const __m128 t = _mm_add_ps(m, _mm_movehl_ps(m, m));
      s += _mm_cvtss_f32(_mm_shuffle_ps(t, t, 1));  // lanes 1 (+3) hold m*s; lanes 0/2 multiply sxe's zeros
    }
    out[r] = s;
  }
}

template <int kType>
void rows_impl(const WView& w, int64_t j0, int64_t j1, const QActs& x, int64_t m, float* y, int64_t ldy,
               const XExp& xe) {
  const int64_t npairs = w.k / 64;
  float out[kMaxRows];
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* row = w.row(j);
    int64_t r0 = 0;
    for (; r0 < m;) {
      const int64_t R = m - r0 >= 4 ? 4 : m - r0;
      switch (R) {
        case 4: dot_pairs<kType, 4>(row, npairs, x, xe, r0, out); break;
        case 3: dot_pairs<kType, 3>(row, npairs, x, xe, r0, out); break;
        case 2: dot_pairs<kType, 2>(row, npairs, x, xe, r0, out); break;
        default: dot_pairs<kType, 1>(row, npairs, x, xe, r0, out); break;
      }
      for (int64_t r = 0; r < R; ++r) y[(r0 + r) * ldy + j] = out[r];
      r0 += R;
    }
  }
}

// ---- float path (exact: fp32 activations) ------------------------------------------------------------------
// Per block: the 32 quants -> 2 x 16 floats (exact), dotted with X in fp32, scaled by d; the min term m * sum(x_b)
// with sum(x_b) precomputed per call. Rounding differs from "dequantise then dot" only in summation order.
template <int kType, int R>
inline void dot_blocks_f32(const uint8_t* row, int64_t nb, const float* x, int64_t k, const float* xs, float* out) {
  __m512 acc[R];
  float macc[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm512_setzero_ps();
    macc[r] = 0.0f;
  }
  constexpr int bs = kType == 0 ? 20 : kType == 1 ? 18 : 34;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = row + bs * b;
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetch), _MM_HINT_T0);
    __m512 q0, q1;
    float d, mn = 0.0f;
    if constexpr (kType == 2) {
      d = _cvtsh_ss(static_cast<uint16_t>(rd32(p) & 0xFFFF));
      q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2))));
      q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18))));
    } else {
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + (kType == 0 ? 4 : 2)));
      __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0F));
      __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F));
      if constexpr (kType == 1) {
        lo = _mm_sub_epi8(lo, _mm_set1_epi8(8));
        hi = _mm_sub_epi8(hi, _mm_set1_epi8(8));
        d = _cvtsh_ss(static_cast<uint16_t>(rd32(p) & 0xFFFF));
        q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo));
        q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi));
      } else {
        const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(rd32(p))));
        d = _mm_cvtss_f32(dm);
        mn = _mm_cvtss_f32(_mm_movehdup_ps(dm));
        q0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo));
        q1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi));
      }
    }
    const __m512 vd = _mm512_set1_ps(d);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const float* xb = x + r * k + 32 * b;
      const __m512 t = _mm512_fmadd_ps(q1, _mm512_loadu_ps(xb + 16), _mm512_mul_ps(q0, _mm512_loadu_ps(xb)));
      acc[r] = _mm512_fmadd_ps(t, vd, acc[r]);
      if constexpr (kType == 0) macc[r] += mn * xs[r * nb + b];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]) + macc[r];
}

template <int kType>
void rows_f32_impl(const WView& w, int64_t j0, int64_t j1, const float* x, int64_t m, float* y, int64_t ldy,
                   const float* xs) {
  const int64_t k = w.k, nb = k / 32;
  float out[4];
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* row = w.row(j);
    for (int64_t r0 = 0; r0 < m;) {
      const int64_t R = m - r0 >= 4 ? 4 : m - r0;
      const float* xr = x + r0 * k;
      const float* xsr = xs + r0 * nb;
      switch (R) {
        case 4: dot_blocks_f32<kType, 4>(row, nb, xr, k, xsr, out); break;
        case 3: dot_blocks_f32<kType, 3>(row, nb, xr, k, xsr, out); break;
        case 2: dot_blocks_f32<kType, 2>(row, nb, xr, k, xsr, out); break;
        default: dot_blocks_f32<kType, 1>(row, nb, xr, k, xsr, out); break;
      }
      for (int64_t r = 0; r < R; ++r) y[(r0 + r) * ldy + j] = out[r];
      r0 += R;
    }
  }
}

}  // namespace

void rows_f32(const WView& w, int64_t j0, int64_t j1, const float* x, int64_t m, float* y, int64_t ldy,
              void* scratch) {
  const bool fused = w.type == DType::kQ4_1 || w.type == DType::kQ4_0 || w.type == DType::kQ8_0;
  if (!fused || static_cast<size_t>(m * (w.k / 32)) * 4 > detail::scratch_bytes(w.k) / 2) {
    rows_f32_256(w, j0, j1, x, m, y, ldy, scratch);
    return;
  }
  const int64_t k = w.k, nb = k / 32;
  float* xs = static_cast<float*>(scratch);  // (m, nb) block sums of X, for Q4_1's min term
  if (w.type == DType::kQ4_1) {
    for (int64_t r = 0; r < m; ++r)
      for (int64_t b = 0; b < nb; ++b)
        xs[r * nb + b] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_loadu_ps(x + r * k + 32 * b),
                                                            _mm512_loadu_ps(x + r * k + 32 * b + 16)));
  }
  switch (w.type) {
    case DType::kQ4_1: rows_f32_impl<0>(w, j0, j1, x, m, y, ldy, xs); break;
    case DType::kQ4_0: rows_f32_impl<1>(w, j0, j1, x, m, y, ldy, xs); break;
    default: rows_f32_impl<2>(w, j0, j1, x, m, y, ldy, xs); break;
  }
}

void rows_q8a(const WView& w, int64_t j0, int64_t j1, const QActs& x, int64_t m, float* y, int64_t ldy,
              void* scratch) {
  const bool fast = (w.type == DType::kQ4_1 || w.type == DType::kQ4_0 || w.type == DType::kQ8_0) &&
                    w.k % 64 == 0 && m <= kMaxRows;
  if (!fast) {
    rows_q8a_256(w, j0, j1, x, m, y, ldy, scratch);
    return;
  }
  const int64_t nb = w.k / 32, npairs = nb / 2;
  float* dxe = static_cast<float*>(scratch);  // m * npairs * 16
  float* sxe = dxe + m * npairs * 16;         // m * npairs * 4
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t pb = 0; pb < npairs; ++pb) {
      const float d0 = x.d[r * nb + 2 * pb], d1 = x.d[r * nb + 2 * pb + 1];
      _mm512_storeu_ps(dxe + (r * npairs + pb) * 16,
                       _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1));
      float* s = sxe + (r * npairs + pb) * 4;
      s[0] = 0.0f;
      s[1] = x.s[r * nb + 2 * pb];
      s[2] = 0.0f;
      s[3] = x.s[r * nb + 2 * pb + 1];
    }
  }
  const XExp xe{dxe, sxe};
  switch (w.type) {
    case DType::kQ4_1: rows_impl<0>(w, j0, j1, x, m, y, ldy, xe); break;
    case DType::kQ4_0: rows_impl<1>(w, j0, j1, x, m, y, ldy, xe); break;
    default: rows_impl<2>(w, j0, j1, x, m, y, ldy, xe); break;
  }
}

}  // namespace kvs::kernels::avx512
