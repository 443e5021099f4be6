// Packed GEMMs for prefill, AVX2 + FMA (no AVX-512, no VNNI). Same scheme as gemm_avx512.cpp with 16-column
// panels (two halves of 8 columns):
// int8 path (gemm_q8a): panel byte layout per block b, k-group g, half h: q[((b*8 + g)*2 + h)*32 + 4*c + e];
//   u8*s8 products via maddubs into int16, accumulated in int16 over the 8 k-groups of a block for 4-bit types
//   (8 groups * 2 * 15 * 127 = 30480 < 32767) and over 4 groups for 5-bit types, then madd(1) to int32.
//   Q8_0 (u8 up to 255 would saturate maddubs) takes the row kernel instead.
//   micro-kernel: 3 X rows x 16 columns.
// float path (gemm_f32): panel dequantised and transposed to [k][16]; micro-kernel 6 rows x 16 columns.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/ops_internal.h"

namespace kvs::kernels::avx2 {

namespace {

using detail::QActs;
using detail::WView;

constexpr int kPanel = 16;

struct Panel {
  uint8_t* q;  // nb * 512
  float* d;    // nb * 16
  float* mn;   // nb * 16
};

inline __m256i gather8(__m256i idx, const uint8_t* base, __m256i mask) {
  return _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), reinterpret_cast<const int*>(base), idx, mask, 1);
}
inline __m256 f16x8_lo(__m256i v) {
  // low 16 bits of each lane -> 8 x f16 -> f32
  const __m256i lo = _mm256_and_si256(v, _mm256_set1_epi32(0xFFFF));
  const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1));
  return _mm256_cvtph_ps(packed);
}
inline __m256 f16x8_hi(__m256i v) { return f16x8_lo(_mm256_srli_epi32(v, 16)); }

void pack_q8a_panel(const WView& w, int64_t j, int ncols, const Panel& pp, uint8_t* tmp) {
  const int64_t nb = w.k / 32;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  if (w.type == DType::kQ4_0 || w.type == DType::kQ4_1) {
    const bool q41 = w.type == DType::kQ4_1;
    // prefetch the next panel's rows (one contiguous range of W), spread over the pack steps (decode reads W cold)
    const char* pf = reinterpret_cast<const char*>(w.data + (j + kPanel) * w.row_bytes);
    const int64_t pf_lines = kPanel * w.row_bytes / 64, pf_steps = 2 * nb;
    const __m256i idx = _mm256_mullo_epi32(lane, _mm256_set1_epi32(static_cast<int>(w.row_bytes)));
    for (int h = 0; h < 2; ++h) {
      const int nv = std::clamp(ncols - 8 * h, 0, 8);
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nv), lane);
      const uint8_t* base = w.data + (j + 8 * h) * w.row_bytes;
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t st = h * nb + b;
        for (int64_t l = st * pf_lines / pf_steps; l < (st + 1) * pf_lines / pf_steps; ++l)
          _mm_prefetch(pf + 64 * l, _MM_HINT_T0);
        uint8_t* qb = pp.q + b * 512 + h * 32;
        const uint8_t* p = base + b * (q41 ? 20 : 18);
        const __m256i dm = gather8(idx, p, mask);
        _mm256_storeu_ps(pp.d + b * 16 + 8 * h, f16x8_lo(dm));
        _mm256_storeu_ps(pp.mn + b * 16 + 8 * h, q41 ? f16x8_hi(dm) : _mm256_setzero_ps());
        const uint8_t* qs = p + (q41 ? 4 : 2);
        for (int t = 0; t < 4; ++t) {
          const __m256i v = gather8(idx, qs + 4 * t, mask);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + t * 64), _mm256_and_si256(v, m4));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + (4 + t) * 64),
                              _mm256_and_si256(_mm256_srli_epi32(v, 4), m4));
        }
      }
    }
    return;
  }
  uint8_t* tq = tmp;                                     // 16 x k
  float* td = reinterpret_cast<float*>(tmp + kPanel * w.k);  // 16 x nb
  float* tm = td + kPanel * nb;
  for (int c = 0; c < kPanel; ++c) {
    if (c < ncols) {
      detail::unpack_row_u8_generic(w.type, w.row(j + c), w.k, tq + c * w.k, td + c * nb, tm + c * nb);
    } else {
      std::memset(tq + c * w.k, 0, static_cast<size_t>(w.k));
      for (int64_t b = 0; b < nb; ++b) td[c * nb + b] = tm[c * nb + b] = 0.0f;
    }
  }
  const __m256i idx = _mm256_mullo_epi32(lane, _mm256_set1_epi32(static_cast<int>(w.k)));
  const __m256i all = _mm256_set1_epi32(-1);
  for (int h = 0; h < 2; ++h)
    for (int64_t b = 0; b < nb; ++b)
      for (int g = 0; g < 8; ++g)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(pp.q + ((b * 8 + g) * 2 + h) * 32),
                            gather8(idx, tq + 8 * h * w.k + 32 * b + 4 * g, all));
  for (int c = 0; c < kPanel; ++c)
    for (int64_t b = 0; b < nb; ++b) {
      pp.d[b * 16 + c] = td[c * nb + b];
      pp.mn[b * 16 + c] = tm[c * nb + b];
    }
}

inline void store_cols(float* dst, __m256 v, int ncols) {
  if (ncols >= 8) {
    _mm256_storeu_ps(dst, v);
  } else if (ncols > 0) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(ncols), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(dst, mask, v);
  }
}

// kGroups: k-groups accumulated in int16 before widening (8 for 4-bit weights, 4 for 5-bit).
template <int R, bool kMin, int kGroups>
void kernel_q8a(const Panel& pp, int64_t nb, const QActs& x, int64_t r0, int off, float* y, int64_t ldy,
                int ncols) {
  const int64_t k = x.k;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 f0[R], f1[R];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) f0[r] = f1[r] = _mm256_setzero_ps();
  const int8_t* xr = x.q + r0 * k;
  for (int64_t b = 0; b < nb; ++b) {
    __m256i a0[R], a1[R];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm256_setzero_si256();
    const uint8_t* wb = pp.q + b * 512;
    const int8_t* xb = xr + 32 * b;
    for (int g0 = 0; g0 < 8; g0 += kGroups) {
      __m256i s0[R], s1[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) s0[r] = s1[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int g = g0; g < g0 + kGroups; ++g) {
        const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb + g * 64));
        const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb + g * 64 + 32));
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          int32_t xv;
          std::memcpy(&xv, xb + r * k + 4 * g, 4);
          const __m256i xb4 = _mm256_set1_epi32(xv);
          s0[r] = _mm256_add_epi16(s0[r], _mm256_maddubs_epi16(w0, xb4));
          s1[r] = _mm256_add_epi16(s1[r], _mm256_maddubs_epi16(w1, xb4));
        }
      }
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        a0[r] = _mm256_add_epi32(a0[r], _mm256_madd_epi16(s0[r], ones));
        a1[r] = _mm256_add_epi32(a1[r], _mm256_madd_epi16(s1[r], ones));
      }
    }
    const __m256 d0 = _mm256_load_ps(pp.d + b * 16), d1 = _mm256_load_ps(pp.d + b * 16 + 8);
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const int64_t xi = (r0 + r) * nb + b;
      if constexpr (!kMin) {
        const __m256i corr = _mm256_set1_epi32(off * x.qsum[xi]);
        a0[r] = _mm256_sub_epi32(a0[r], corr);
        a1[r] = _mm256_sub_epi32(a1[r], corr);
      }
      const __m256 dx = _mm256_set1_ps(x.d[xi]);
      f0[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a0[r]), _mm256_mul_ps(d0, dx), f0[r]);
      f1[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a1[r]), _mm256_mul_ps(d1, dx), f1[r]);
      if constexpr (kMin) {
        const __m256 sx = _mm256_set1_ps(x.s[xi]);
        f0[r] = _mm256_fmadd_ps(_mm256_load_ps(pp.mn + b * 16), sx, f0[r]);
        f1[r] = _mm256_fmadd_ps(_mm256_load_ps(pp.mn + b * 16 + 8), sx, f1[r]);
      }
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* yr = y + (r0 + r) * ldy;
    store_cols(yr, f0[r], ncols);
    store_cols(yr + 8, f1[r], ncols - 8);
  }
}

template <bool kMin, int kGroups>
void run_q8a_panel(const Panel& pp, int64_t nb, const QActs& x, int64_t r0, int64_t r1, int off, float* y,
                   int64_t ldy, int ncols) {
  constexpr int R = 3;
  int64_t r = r0;
  for (; r + R <= r1; r += R) kernel_q8a<R, kMin, kGroups>(pp, nb, x, r, off, y, ldy, ncols);
  switch (r1 - r) {
    case 2: kernel_q8a<2, kMin, kGroups>(pp, nb, x, r, off, y, ldy, ncols); break;
    case 1: kernel_q8a<1, kMin, kGroups>(pp, nb, x, r, off, y, ldy, ncols); break;
    default: break;
  }
}

// W rows [j, j + ncols) dequantised (8 rows at a time into tmp) and transposed to pw[e*16 + c] with gathers.
void pack_f32_panel(const WView& w, int64_t j, int ncols, float* pw, float* tmp) {
  const int64_t k = w.k;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i idx = _mm256_mullo_epi32(lane, _mm256_set1_epi32(static_cast<int>(k)));
  for (int h = 0; h < 2; ++h) {
    const int nv = std::clamp(ncols - 8 * h, 0, 8);
    for (int c = 0; c < nv; ++c) {
      const uint8_t* src = w.row(j + 8 * h + c);
      if (!dequantize_row(w.type, src, tmp + c * k, k)) ref::dequantize_row(w.type, src, tmp + c * k, k);
    }
    const __m256 mask = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(nv), lane));
    for (int64_t e = 0; e < k; ++e)
      _mm256_store_ps(pw + e * kPanel + 8 * h, _mm256_mask_i32gather_ps(_mm256_setzero_ps(), tmp + e, idx, mask, 4));
  }
}

template <int R>
void kernel_f32(const float* pw, int64_t k, const float* x, int64_t r0, float* y, int64_t ldy, int ncols) {
  __m256 f0[R], f1[R];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) f0[r] = f1[r] = _mm256_setzero_ps();
  const float* xr = x + r0 * k;
  for (int64_t e = 0; e < k; ++e) {
    const __m256 w0 = _mm256_load_ps(pw + e * kPanel), w1 = _mm256_load_ps(pw + e * kPanel + 8);
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m256 xb = _mm256_broadcast_ss(xr + r * k + e);
      f0[r] = _mm256_fmadd_ps(w0, xb, f0[r]);
      f1[r] = _mm256_fmadd_ps(w1, xb, f1[r]);
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* yr = y + (r0 + r) * ldy;
    store_cols(yr, f0[r], ncols);
    store_cols(yr + 8, f1[r], ncols - 8);
  }
}

}  // namespace

void gemm_q8a(const WView& w, int64_t j0, int64_t j1, const QActs& x, int64_t r0, int64_t r1, float* y,
              int64_t ldy, void* scratch) {
  if (w.type == DType::kQ8_0) {  // u8 = w + 128 would saturate maddubs: the row kernel (sign trick) instead
    QActs xs = x;
    xs.q += r0 * x.k;
    xs.d += r0 * (x.k / 32);
    xs.s += r0 * (x.k / 32);
    xs.qsum += r0 * (x.k / 32);
    rows_q8a(w, j0, j1, xs, r1 - r0, y + r0 * ldy, ldy, scratch);
    return;
  }
  const int64_t nb = w.k / 32;
  uint8_t* s = static_cast<uint8_t*>(scratch);
  Panel pp{s, reinterpret_cast<float*>(s + nb * 512), reinterpret_cast<float*>(s + nb * 512) + nb * 16};
  uint8_t* tmp = reinterpret_cast<uint8_t*>(pp.mn + nb * 16);
  const int off = detail::u8_offset(w.type);
  const bool five_bit = w.type == DType::kQ5_0 || w.type == DType::kQ5_1;
  for (int64_t j = j0; j < j1; j += kPanel) {
    const int ncols = static_cast<int>(std::min<int64_t>(kPanel, j1 - j));
    pack_q8a_panel(w, j, ncols, pp, tmp);
    if (off < 0) {
      if (five_bit) {
        run_q8a_panel<true, 4>(pp, nb, x, r0, r1, off, y + j, ldy, ncols);
      } else {
        run_q8a_panel<true, 8>(pp, nb, x, r0, r1, off, y + j, ldy, ncols);
      }
    } else {
      if (five_bit) {
        run_q8a_panel<false, 4>(pp, nb, x, r0, r1, off, y + j, ldy, ncols);
      } else {
        run_q8a_panel<false, 8>(pp, nb, x, r0, r1, off, y + j, ldy, ncols);
      }
    }
  }
}

void gemm_f32(const WView& w, int64_t j0, int64_t j1, const float* x, int64_t r0, int64_t r1, float* y,
              int64_t ldy, void* scratch) {
  const int64_t k = w.k;
  float* pw = static_cast<float*>(scratch);
  float* tmp = pw + k * kPanel;
  constexpr int R = 6;
  for (int64_t j = j0; j < j1; j += kPanel) {
    const int ncols = static_cast<int>(std::min<int64_t>(kPanel, j1 - j));
    pack_f32_panel(w, j, ncols, pw, tmp);
    int64_t r = r0;
    for (; r + R <= r1; r += R) kernel_f32<R>(pw, k, x, r, y + j, ldy, ncols);
    switch (r1 - r) {
      case 5: kernel_f32<5>(pw, k, x, r, y + j, ldy, ncols); break;
      case 4: kernel_f32<4>(pw, k, x, r, y + j, ldy, ncols); break;
      case 3: kernel_f32<3>(pw, k, x, r, y + j, ldy, ncols); break;
      case 2: kernel_f32<2>(pw, k, x, r, y + j, ldy, ncols); break;
      case 1: kernel_f32<1>(pw, k, x, r, y + j, ldy, ncols); break;
      default: break;
    }
  }
}

}  // namespace kvs::kernels::avx2
