// Packed GEMMs for prefill, AVX-512 (F/BW/VL/DQ + VNNI). Y[r][j] = sum_e X[r][e] * W[j][e] over a column range
// [j0, j1) and a row range [r0, r1), one panel of 32 W rows (= 32 output columns) at a time:
//
// int8 path (gemm_q8a): the panel is repacked to u8 in VNNI order and the X rows (Q8A) are broadcast 4 bytes at a
// time:  panel byte layout, per 32-element block b, k-group g (elements 32b+4g .. +3), half h (columns 16h..16h+15):
//     q[((b*8 + g)*2 + h)*64 + 4*c + e] = u8 weight of column 16h+c, element 32b+4g+e
//     d[b*32 + col], mn[b*32 + col]  (float; value = q*d + mn, or (q - offset)*d for Q4_0/Q5_0/Q8_0)
//   micro-kernel: 6 X rows x 32 columns; per block 8 k-groups x 12 vpdpbusd into int32 accumulators, then per row
//   and half: (int - offset*qsum) -> float, times d_w*d_x, plus mn*s_x, into float accumulators.
//   Q4_0 / Q4_1 / Q8_0 panels are packed straight from the GGUF blocks with 16-lane gathers; the other types via
//   ref::unpack_row_u8 into scratch first. Registered (immutable) Q4_0/Q4_1/Q5_0/Q8_0/Q4_K matrices are read from
//   their pre-packed copy instead (prepack_q8a: no gathers, no per-call unpack).
// float path (gemm_f32): the panel is dequantised (bit-exact) and transposed to [k][32] floats; micro-kernel
//   12 X rows x 32 columns of FMAs with X broadcast from memory.
// GCC 12 warns (falsely) about the `__Y = __Y` idiom inside its own AVX-512 intrinsic headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/status.h"

#include "kernels/cpu/gemm_amx.h"
#include "kernels/cpu/gemv_avx512.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/ops_internal.h"

namespace kvs::kernels::avx512 {

namespace {

using detail::QActs;
using detail::WView;

constexpr int kPanel = 32;

struct Panel {
  uint8_t* q;  // nb * 1024
  float* d;    // nb * 32
  float* mn;   // nb * 32
};

inline __m512i gather32(__m512i idx, const uint8_t* base, __mmask16 mask) {
  return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, idx, base, 1);
}

inline __m512 f16x16_lo(__m512i v) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)); }
inline __m512 f16x16_hi(__m512i v) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16))); }

// Packs W rows [j, j + ncols) (ncols <= 32; missing columns become zeros) into `pp`. While gathering, it
// prefetches the next panel's rows (one contiguous range of W) spread over the pack steps, so that decode, which
// reads W once from L3/DRAM, finds the next panel in cache (cold 1536x576 Q4_1 at m = 1: 79 -> ~60 us).
// Only blocks [b0, b1) are packed (at local block index b - b0): the GEMM walks k in chunks that stay in L1.
// Pre-packed form (prepack_q8a, once per matrix): per panel P (columns 32P..) and block b, a record at
// packed + (P * nb + b) * prepack_record(type):
//   Q4_0 / Q4_1: nib[(t * 2 + h) * 64 + 4 * c + e] = GGUF byte 4t+e of column 16h+c (low nibble: group t, high
//                nibble: group 4 + t, exactly as the gathers below see it); then d[32], mn[32] as f16 (640 B)
//   Q8_0:        the panel's u8 block as packed below (1024 B), then d[32] as f16 (1088 B)
//   Q5_0:        nib as Q4_0 (low 4 bits of each u8 weight), then hb[16] u64 masks: bit i of hb[g * 2 + h] = bit 4
//                of byte i of the panel vector (group g, half h); then d[32] as f16 (704 B: 0.6875 B per weight,
//                as the GGUF block)
//   Q4_K:        nib as Q4_1; then d[32], mn[32] as f32 (the sub-block products dd*sc and -(dmin*m) are not f16
//                values) (768 B)
// The block-32 scales are f16 in the GGUF blocks, so keeping them f16 is exact (checked when packing) and decode,
// which streams these records from memory once per token, reads 0.625 B per Q4 weight instead of 0.75.
int64_t prepack_record(DType t) {
  switch (t) {
    case DType::kQ8_0: return 1088;
    case DType::kQ4_0:
    case DType::kQ4_1: return 640;
    case DType::kQ5_0: return 704;
    case DType::kQ4_K: return 768;
    default: return 0;
  }
}

// dst (32) = the 32 f16 values at src (exact).
inline void f16x32_to_f32(const uint8_t* src, float* dst) {
  _mm512_storeu_ps(dst, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src))));
  _mm512_storeu_ps(dst + 16, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32))));
}

// dst (32 f16) = src (32 floats), which must be f16 values (the GGUF scales): checked, the record stays exact.
inline void f32x32_to_f16_exact(const float* src, uint8_t* dst) {
  for (int h = 0; h < 2; ++h) {
    const __m512 v = _mm512_loadu_ps(src + 16 * h);
    const __m256i x = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    KVS_CHECK_MSG(_mm512_cmpneq_ps_mask(_mm512_cvtph_ps(x), v) == 0, "prepack: a block scale is not an f16 value");
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * h), x);
  }
}

// pack_q8a_panel from the pre-packed records: nibble expansion / copies, no gathers.
void unpack_prepacked(const WView& w, int64_t j, int64_t b0, int64_t b1, const Panel& pp) {
  const int64_t nb = w.k / 32, rec = prepack_record(w.type);
  const uint8_t* base = w.packed + (j / kPanel) * nb * rec;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = b0; b < b1; ++b) {
    const uint8_t* r = base + b * rec;
    _mm_prefetch(reinterpret_cast<const char*>(r + 4 * rec), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(r + 4 * rec + 512), _MM_HINT_T0);
    const int64_t lb = b - b0;
    uint8_t* qb = pp.q + lb * 1024;
    if (w.type == DType::kQ8_0) {
      std::memcpy(qb, r, 1024);
      f16x32_to_f32(r + 1024, pp.d + lb * 32);
      continue;
    }
    if (w.type == DType::kQ5_0) {
      const __m512i x10 = _mm512_set1_epi8(0x10);
      for (int t = 0; t < 4; ++t)
        for (int h = 0; h < 2; ++h) {
          const __m512i v = _mm512_load_si512(r + (t * 2 + h) * 64);
          uint64_t mlo, mhi;
          std::memcpy(&mlo, r + 512 + (t * 2 + h) * 8, 8);
          std::memcpy(&mhi, r + 512 + ((4 + t) * 2 + h) * 8, 8);
          const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi32(v, 4), m4);
          _mm512_store_si512(qb + t * 128 + h * 64, _mm512_mask_add_epi8(lo, _cvtu64_mask64(mlo), lo, x10));
          _mm512_store_si512(qb + (4 + t) * 128 + h * 64, _mm512_mask_add_epi8(hi, _cvtu64_mask64(mhi), hi, x10));
        }
      f16x32_to_f32(r + 640, pp.d + lb * 32);
      continue;
    }
    for (int t = 0; t < 4; ++t)
      for (int h = 0; h < 2; ++h) {
        const __m512i v = _mm512_load_si512(r + (t * 2 + h) * 64);
        _mm512_store_si512(qb + t * 128 + h * 64, _mm512_and_si512(v, m4));
        _mm512_store_si512(qb + (4 + t) * 128 + h * 64, _mm512_and_si512(_mm512_srli_epi32(v, 4), m4));
      }
    if (w.type == DType::kQ4_K) {
      std::memcpy(pp.d + lb * 32, r + 512, 128);
      std::memcpy(pp.mn + lb * 32, r + 640, 128);
      continue;
    }
    f16x32_to_f32(r + 512, pp.d + lb * 32);
    if (w.type == DType::kQ4_1) f16x32_to_f32(r + 576, pp.mn + lb * 32);
  }
}

void pack_q8a_panel(const WView& w, int64_t j, int ncols, int64_t b0, int64_t b1, const Panel& pp, uint8_t* tmp) {
  const int64_t nb = w.k / 32;
  if (w.packed != nullptr) return unpack_prepacked(w, j, b0, b1, pp);
  const char* pf = reinterpret_cast<const char*>(w.data + (j + kPanel) * w.row_bytes);
  const int64_t pf_lines = kPanel * w.row_bytes / 64, pf_steps = 2 * nb;
  auto prefetch_step = [&](int64_t s) {
    for (int64_t l = s * pf_lines / pf_steps; l < (s + 1) * pf_lines / pf_steps; ++l)
      _mm_prefetch(pf + 64 * l, _MM_HINT_T1);  // to L2: the next panel would evict the current one from L1
  };
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  if (w.type == DType::kQ4_0 || w.type == DType::kQ4_1 || w.type == DType::kQ8_0) {
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(static_cast<int>(w.row_bytes)));
    for (int h = 0; h < 2; ++h) {
      const int nv = std::clamp(ncols - 16 * h, 0, 16);
      const __mmask16 mask = static_cast<__mmask16>((1u << nv) - 1);
      const uint8_t* base = w.data + (j + 16 * h) * w.row_bytes;
      for (int64_t b = b0; b < b1; ++b) {
        prefetch_step(2 * b0 + h * (b1 - b0) + (b - b0));
        const int64_t lb = b - b0;  // local block index in the chunk
        uint8_t* qb = pp.q + lb * 1024 + h * 64;
        if (w.type == DType::kQ4_1) {
          const uint8_t* p = base + b * 20;
          const __m512i dm = gather32(idx, p, mask);
          _mm512_storeu_ps(pp.d + lb * 32 + 16 * h, f16x16_lo(dm));
          _mm512_storeu_ps(pp.mn + lb * 32 + 16 * h, f16x16_hi(dm));
          for (int t = 0; t < 4; ++t) {
            const __m512i v = gather32(idx, p + 4 + 4 * t, mask);
            _mm512_storeu_si512(qb + t * 128, _mm512_and_si512(v, m4));
            _mm512_storeu_si512(qb + (4 + t) * 128, _mm512_and_si512(_mm512_srli_epi32(v, 4), m4));
          }
        } else if (w.type == DType::kQ4_0) {
          const uint8_t* p = base + b * 18;
          _mm512_storeu_ps(pp.d + lb * 32 + 16 * h, f16x16_lo(gather32(idx, p, mask)));
          for (int t = 0; t < 4; ++t) {
            const __m512i v = gather32(idx, p + 2 + 4 * t, mask);
            _mm512_storeu_si512(qb + t * 128, _mm512_and_si512(v, m4));
            _mm512_storeu_si512(qb + (4 + t) * 128, _mm512_and_si512(_mm512_srli_epi32(v, 4), m4));
          }
        } else {  // Q8_0: w + 128 as u8
          const uint8_t* p = base + b * 34;
          _mm512_storeu_ps(pp.d + lb * 32 + 16 * h, f16x16_lo(gather32(idx, p, mask)));
          const __m512i x80 = _mm512_set1_epi8(static_cast<char>(0x80));
          for (int g = 0; g < 8; ++g) {
            const __m512i v = gather32(idx, p + 2 + 4 * g, mask);
            // masked-off lanes must stay 0 (d = 0 there anyway, but keep the panel clean)
            _mm512_storeu_si512(qb + g * 128, _mm512_maskz_mov_epi32(mask, _mm512_xor_si512(v, x80)));
          }
        }
      }
    }
    return;
  }
  // Generic (called with the whole block range): unpack rows to (q, d, mn) in tmp, then transpose 4-byte groups.
  uint8_t* tq = tmp;                                        // 32 x k
  float* td = reinterpret_cast<float*>(tmp + 32 * w.k);     // 32 x nb
  float* tm = td + 32 * nb;                                 // 32 x nb
  for (int c = 0; c < kPanel; ++c) {
    if (c < ncols) {
      detail::unpack_row_u8_generic(w.type, w.row(j + c), w.k, tq + c * w.k, td + c * nb, tm + c * nb);
    } else {
      std::memset(tq + c * w.k, 0, static_cast<size_t>(w.k));
      for (int64_t b = 0; b < nb; ++b) td[c * nb + b] = tm[c * nb + b] = 0.0f;
    }
  }
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(w.k)));
  for (int h = 0; h < 2; ++h) {
    const uint8_t* base = tq + 16 * h * w.k;
    for (int64_t b = 0; b < nb; ++b) {
      for (int g = 0; g < 8; ++g)
        _mm512_storeu_si512(pp.q + ((b * 8 + g) * 2 + h) * 64, gather32(idx, base + 32 * b + 4 * g, 0xFFFF));
    }
  }
  for (int c = 0; c < kPanel; ++c)
    for (int64_t b = 0; b < nb; ++b) {
      pp.d[b * 32 + c] = td[c * nb + b];
      pp.mn[b * 32 + c] = tm[c * nb + b];
    }
}

inline void store_cols(float* dst, __m512 v, int ncols) {
  if (ncols >= 16) {
    _mm512_storeu_ps(dst, v);
  } else if (ncols > 0) {
    _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << ncols) - 1), v);
  }
}

inline __m512 load_cols(const float* src, int ncols) {
  if (ncols >= 16) return _mm512_loadu_ps(src);
  if (ncols > 0) return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << ncols) - 1), src);
  return _mm512_setzero_ps();
}

// R rows of X (from r0) x the packed chunk of blocks [b0, b0 + nbc) of a panel. `first`: the accumulators start
// at 0, else from Y (the previous chunk's partial sums; stores and reloads are exact, so the result is the same
// sequence of float operations for any chunking and any m: batch-invariant).
template <int R, bool kMin>
void kernel_q8a(const Panel& pp, int64_t b0, int64_t nbc, int64_t nb, const QActs& x, int64_t r0, int off, float* y,
                int64_t ldy, int ncols, bool first) {
  const int64_t k = x.k;
  __m512 f0[R], f1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if (first) {
      f0[r] = f1[r] = _mm512_setzero_ps();
    } else {
      f0[r] = load_cols(y + (r0 + r) * ldy, ncols);
      f1[r] = load_cols(y + (r0 + r) * ldy + 16, ncols - 16);
    }
  }
  const int8_t* xr = x.q + r0 * k + 32 * b0;
  for (int64_t lb = 0; lb < nbc; ++lb) {
    __m512i a0[R], a1[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm512_setzero_si512();
    const uint8_t* wb = pp.q + lb * 1024;
    const int8_t* xb = xr + 32 * lb;
#pragma GCC unroll 8
    for (int g = 0; g < 8; ++g) {
      const __m512i w0 = _mm512_load_si512(wb + g * 128);
      const __m512i w1 = _mm512_load_si512(wb + g * 128 + 64);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        int32_t xv;
        std::memcpy(&xv, xb + r * k + 4 * g, 4);
        const __m512i xb4 = _mm512_set1_epi32(xv);
        a0[r] = _mm512_dpbusd_epi32(a0[r], w0, xb4);
        a1[r] = _mm512_dpbusd_epi32(a1[r], w1, xb4);
      }
    }
    const __m512 d0 = _mm512_load_ps(pp.d + lb * 32), d1 = _mm512_load_ps(pp.d + lb * 32 + 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const int64_t xi = (r0 + r) * nb + b0 + lb;
      if constexpr (!kMin) {
        const __m512i corr = _mm512_set1_epi32(off * x.qsum[xi]);
        a0[r] = _mm512_sub_epi32(a0[r], corr);
        a1[r] = _mm512_sub_epi32(a1[r], corr);
      }
      const __m512 dx = _mm512_set1_ps(x.d[xi]);
      f0[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[r]), _mm512_mul_ps(d0, dx), f0[r]);
      f1[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[r]), _mm512_mul_ps(d1, dx), f1[r]);
      if constexpr (kMin) {
        const __m512 sx = _mm512_set1_ps(x.s[xi]);
        f0[r] = _mm512_fmadd_ps(_mm512_load_ps(pp.mn + lb * 32), sx, f0[r]);
        f1[r] = _mm512_fmadd_ps(_mm512_load_ps(pp.mn + lb * 32 + 16), sx, f1[r]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* yr = y + (r0 + r) * ldy;
    store_cols(yr, f0[r], ncols);
    store_cols(yr + 16, f1[r], ncols - 16);
  }
}

template <bool kMin>
void run_q8a_chunk(const Panel& pp, int64_t b0, int64_t nbc, int64_t nb, const QActs& x, int64_t r0, int64_t r1,
                   int off, float* y, int64_t ldy, int ncols, bool first) {
  constexpr int R = 6;
  int64_t r = r0;
  for (; r + R <= r1; r += R) kernel_q8a<R, kMin>(pp, b0, nbc, nb, x, r, off, y, ldy, ncols, first);
  switch (r1 - r) {
    case 5: kernel_q8a<5, kMin>(pp, b0, nbc, nb, x, r, off, y, ldy, ncols, first); break;
    case 4: kernel_q8a<4, kMin>(pp, b0, nbc, nb, x, r, off, y, ldy, ncols, first); break;
    case 3: kernel_q8a<3, kMin>(pp, b0, nbc, nb, x, r, off, y, ldy, ncols, first); break;
    case 2: kernel_q8a<2, kMin>(pp, b0, nbc, nb, x, r, off, y, ldy, ncols, first); break;
    case 1: kernel_q8a<1, kMin>(pp, b0, nbc, nb, x, r, off, y, ldy, ncols, first); break;
    default: break;
  }
}

// ---- float path ----------------------------------------------------------------------------------------------

// Float GEMM straight from the u8 panel (int8-capable types): each weight is rebuilt in registers exactly as
// ref::dequantize_row computes it ((q - offset) * d, or q * d + mn: mul then add, no contraction), then fp32 FMAs
// with X broadcast. Per output the FMAs run in element order for any m and chunking: batch-invariant.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
template <int R, bool kMin>
void kernel_f32u8(const Panel& pp, int64_t b0, int64_t nbc, const float* x, int64_t k, int64_t r0, int off,
                  float* y, int64_t ldy, int ncols, bool first) {
  __m512 f0[R], f1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if (first) {
      f0[r] = f1[r] = _mm512_setzero_ps();
    } else {
      f0[r] = load_cols(y + (r0 + r) * ldy, ncols);
      f1[r] = load_cols(y + (r0 + r) * ldy + 16, ncols - 16);
    }
  }
  const __m512i ff = _mm512_set1_epi32(0xFF), voff = _mm512_set1_epi32(off);
  const float* xr = x + r0 * k + 32 * b0;
  for (int64_t lb = 0; lb < nbc; ++lb) {
    const __m512 d0 = _mm512_load_ps(pp.d + lb * 32), d1 = _mm512_load_ps(pp.d + lb * 32 + 16);
    __m512 m0 = _mm512_setzero_ps(), m1 = m0;
    if constexpr (kMin) {
      m0 = _mm512_load_ps(pp.mn + lb * 32);
      m1 = _mm512_load_ps(pp.mn + lb * 32 + 16);
    }
    for (int g = 0; g < 8; ++g) {
      const __m512i q0 = _mm512_load_si512(pp.q + lb * 1024 + g * 128);
      const __m512i q1 = _mm512_load_si512(pp.q + lb * 1024 + g * 128 + 64);
#pragma GCC unroll 4
      for (int e = 0; e < 4; ++e) {
        __m512i v0 = _mm512_and_si512(_mm512_srli_epi32(q0, 8 * e), ff);
        __m512i v1 = _mm512_and_si512(_mm512_srli_epi32(q1, 8 * e), ff);
        if constexpr (!kMin) {
          v0 = _mm512_sub_epi32(v0, voff);
          v1 = _mm512_sub_epi32(v1, voff);
        }
        __m512 w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(v0), d0);
        __m512 w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(v1), d1);
        if constexpr (kMin) {
          w0 = _mm512_add_ps(w0, m0);
          w1 = _mm512_add_ps(w1, m1);
        }
        const float* xe = xr + 32 * lb + 4 * g + e;
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m512 xb = _mm512_set1_ps(xe[r * k]);
          f0[r] = _mm512_fmadd_ps(w0, xb, f0[r]);
          f1[r] = _mm512_fmadd_ps(w1, xb, f1[r]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* yr = y + (r0 + r) * ldy;
    store_cols(yr, f0[r], ncols);
    store_cols(yr + 16, f1[r], ncols - 16);
  }
}
#pragma GCC pop_options

template <bool kMin>
void run_f32u8_chunk(const Panel& pp, int64_t b0, int64_t nbc, const float* x, int64_t k, int64_t r0, int64_t r1,
                     int off, float* y, int64_t ldy, int ncols, bool first) {
  constexpr int R = 8;
  int64_t r = r0;
  for (; r + R <= r1; r += R) kernel_f32u8<R, kMin>(pp, b0, nbc, x, k, r, off, y, ldy, ncols, first);
  switch (r1 - r) {
    case 7: kernel_f32u8<7, kMin>(pp, b0, nbc, x, k, r, off, y, ldy, ncols, first); break;
    case 6: kernel_f32u8<6, kMin>(pp, b0, nbc, x, k, r, off, y, ldy, ncols, first); break;
    case 5: kernel_f32u8<5, kMin>(pp, b0, nbc, x, k, r, off, y, ldy, ncols, first); break;
    case 4: kernel_f32u8<4, kMin>(pp, b0, nbc, x, k, r, off, y, ldy, ncols, first); break;
    case 3: kernel_f32u8<3, kMin>(pp, b0, nbc, x, k, r, off, y, ldy, ncols, first); break;
    case 2: kernel_f32u8<2, kMin>(pp, b0, nbc, x, k, r, off, y, ldy, ncols, first); break;
    case 1: kernel_f32u8<1, kMin>(pp, b0, nbc, x, k, r, off, y, ldy, ncols, first); break;
    default: break;
  }
}

// Other types (F32, F16, BF16, Q6_K):

// W rows [j, j + ncols) dequantised and transposed: pw[e*32 + c] = W[j + c][e]; missing columns are zero.
// 16 rows at a time are dequantised into tmp (16 x k), then gathered column-wise (one 16-lane gather per 16 floats).
void pack_f32_panel(const WView& w, int64_t j, int ncols, float* pw, float* tmp) {
  const int64_t k = w.k;
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(k)));
  for (int h = 0; h < 2; ++h) {
    const int nv = std::clamp(ncols - 16 * h, 0, 16);
    for (int c = 0; c < nv; ++c) {
      const uint8_t* src = w.row(j + 16 * h + c);
      if (!dequantize_row(w.type, src, tmp + c * k, k)) ref::dequantize_row(w.type, src, tmp + c * k, k);
    }
    const __mmask16 mask = static_cast<__mmask16>((1u << nv) - 1);
    for (int64_t e = 0; e < k; ++e)
      _mm512_store_ps(pw + e * kPanel + 16 * h,
                      _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, idx, tmp + e, 4));
  }
}

template <int R>
void kernel_f32(const float* pw, int64_t k, const float* x, int64_t r0, float* y, int64_t ldy, int ncols) {
  __m512 f0[R], f1[R];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) f0[r] = f1[r] = _mm512_setzero_ps();
  const float* xr = x + r0 * k;
  for (int64_t e = 0; e < k; ++e) {
    const __m512 w0 = _mm512_load_ps(pw + e * kPanel), w1 = _mm512_load_ps(pw + e * kPanel + 16);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 xb = _mm512_set1_ps(xr[r * k + e]);
      f0[r] = _mm512_fmadd_ps(w0, xb, f0[r]);
      f1[r] = _mm512_fmadd_ps(w1, xb, f1[r]);
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* yr = y + (r0 + r) * ldy;
    store_cols(yr, f0[r], ncols);
    store_cols(yr + 16, f1[r], ncols - 16);
  }
}

}  // namespace

size_t prepack_bytes(DType t, int64_t n, int64_t k) {
  const int64_t panels = (n + kPanel - 1) / kPanel;
  return static_cast<size_t>(panels * (k / 32) * prepack_record(t));
}

// Packs every panel once with the gathering packer, then stores it in the record form (nibbles re-joined).
void prepack_q8a(const WView& w, int64_t n, uint8_t* out) {
  const int64_t nb = w.k / 32, rec = prepack_record(w.type);
  KVS_CHECK(rec > 0 && w.packed == nullptr);
  // panel (nb * 1024 u8 + 2 * nb * 32 floats), then the generic packer's tmp (32 x k u8 + 2 * 32 x nb floats)
  std::vector<uint8_t> buf(static_cast<size_t>(nb * (1024 + 256) * 2 + 64));
  uint8_t* s = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t{63});
  Panel pp{s, reinterpret_cast<float*>(s + nb * 1024), reinterpret_cast<float*>(s + nb * 1024) + nb * 32};
  uint8_t* tmp = reinterpret_cast<uint8_t*>(pp.mn + nb * 32);
  for (int64_t j = 0; j < n; j += kPanel) {
    const int ncols = static_cast<int>(std::min<int64_t>(kPanel, n - j));
    pack_q8a_panel(w, j, ncols, 0, nb, pp, tmp);
    uint8_t* dst = out + (j / kPanel) * nb * rec;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* r = dst + b * rec;
      const uint8_t* qb = pp.q + b * 1024;
      if (w.type == DType::kQ8_0) {
        std::memcpy(r, qb, 1024);
        f32x32_to_f16_exact(pp.d + b * 32, r + 1024);
        continue;
      }
      for (int t = 0; t < 4; ++t)
        for (int h = 0; h < 2; ++h)
          for (int i = 0; i < 64; ++i)
            r[(t * 2 + h) * 64 + i] = static_cast<uint8_t>((qb[t * 128 + h * 64 + i] & 0xF) |
                                                           ((qb[(4 + t) * 128 + h * 64 + i] & 0xF) << 4));
      if (w.type == DType::kQ5_0) {
        for (int v = 0; v < 16; ++v) {
          const __mmask64 hb = _mm512_test_epi8_mask(_mm512_load_si512(qb + v * 64), _mm512_set1_epi8(0x10));
          const uint64_t bits = _cvtmask64_u64(hb);
          std::memcpy(r + 512 + v * 8, &bits, 8);
        }
        f32x32_to_f16_exact(pp.d + b * 32, r + 640);
        continue;
      }
      if (w.type == DType::kQ4_K) {
        std::memcpy(r + 512, pp.d + b * 32, 128);
        std::memcpy(r + 640, pp.mn + b * 32, 128);
        continue;
      }
      f32x32_to_f16_exact(pp.d + b * 32, r + 512);
      if (w.type == DType::kQ4_1) {
        f32x32_to_f16_exact(pp.mn + b * 32, r + 576);
      } else {
        std::memset(r + 576, 0, 64);
      }
    }
  }
}

void gemm_q8a(const WView& w, int64_t j0, int64_t j1, const QActs& x, int64_t r0, int64_t r1, float* y,
              int64_t ldy, void* scratch) {
  const int64_t nb = w.k / 32;
  uint8_t* s = static_cast<uint8_t*>(scratch);
  Panel pp{s, reinterpret_cast<float*>(s + nb * 1024), reinterpret_cast<float*>(s + nb * 1024) + nb * 32};
  uint8_t* tmp = reinterpret_cast<uint8_t*>(pp.mn + nb * 32);
  const int off = detail::u8_offset(w.type);
  // Pre-packed matrices unpack any block range; the generic packer (Q5_0/Q5_1/Q4_K unregistered) whole rows.
  const bool fast =
      w.packed != nullptr || w.type == DType::kQ4_0 || w.type == DType::kQ4_1 || w.type == DType::kQ8_0;
  // k chunks (small m: 8 blocks = 8 KiB of packed panel + 2 KiB of scales, L1-resident; large m: 32 blocks, fewer
  // accumulator reloads); whole rows for the generic packer. Chunking does not change the results (kernel_q8a).
  const int64_t nbc_max = fast ? (r1 - r0 <= 64 ? 8 : 32) : nb;
  const bool amx = r1 - r0 >= amx::kTileRows && amx_active();
  for (int64_t j = j0; j < j1; j += kPanel) {
    const int ncols = static_cast<int>(std::min<int64_t>(kPanel, j1 - j));
    for (int64_t b0 = 0; b0 < nb; b0 += nbc_max) {
      const int64_t nbc = std::min(nbc_max, nb - b0);
      pack_q8a_panel(w, j, ncols, b0, b0 + nbc, pp, tmp);
      // AMX takes whole groups of 16 rows (same bits), VNNI the rest.
      const int64_t ra = amx ? r0 + (r1 - r0) / amx::kTileRows * amx::kTileRows : r0;
      if (ra > r0) amx::q8a_panel(pp.q, pp.d, pp.mn, b0, nbc, nb, x, r0, ra, off, y + j, ldy, ncols, b0 == 0);
      if (ra == r1) continue;
      if (off < 0) {
        run_q8a_chunk<true>(pp, b0, nbc, nb, x, ra, r1, off, y + j, ldy, ncols, b0 == 0);
      } else {
        run_q8a_chunk<false>(pp, b0, nbc, nb, x, ra, r1, off, y + j, ldy, ncols, b0 == 0);
      }
    }
  }
}

void gemm_f32(const WView& w, int64_t j0, int64_t j1, const float* x, int64_t r0, int64_t r1, float* y,
              int64_t ldy, void* scratch) {
  const int64_t k = w.k;
  // Small m: from the u8 panel (cheap to pack), k in L1-sized chunks. Large m: dequantise the panel to fp32 once
  // and run the 12-row kernel. Both give bit-identical results (same weight values, same FMA order per output).
  if (detail::int8_capable(w.type) && r1 - r0 < 32) {
    // Decode: straight from the pre-packed records when there are some (same bits, gemv_avx512.cpp).
    if (gemm_f32_prepacked(w, j0, j1, x, r0, r1, y, ldy)) return;
    const int64_t nb = k / 32;
    uint8_t* s = static_cast<uint8_t*>(scratch);
    Panel pp{s, reinterpret_cast<float*>(s + nb * 1024), reinterpret_cast<float*>(s + nb * 1024) + nb * 32};
    uint8_t* tmp = reinterpret_cast<uint8_t*>(pp.mn + nb * 32);
    const int off = detail::u8_offset(w.type);
    const bool fast =
        w.packed != nullptr || w.type == DType::kQ4_0 || w.type == DType::kQ4_1 || w.type == DType::kQ8_0;
    const int64_t nbc_max = fast ? 8 : nb;
    for (int64_t j = j0; j < j1; j += kPanel) {
      const int ncols = static_cast<int>(std::min<int64_t>(kPanel, j1 - j));
      for (int64_t b0 = 0; b0 < nb; b0 += nbc_max) {
        const int64_t nbc = std::min(nbc_max, nb - b0);
        pack_q8a_panel(w, j, ncols, b0, b0 + nbc, pp, tmp);
        if (off < 0) {
          run_f32u8_chunk<true>(pp, b0, nbc, x, k, r0, r1, off, y + j, ldy, ncols, b0 == 0);
        } else {
          run_f32u8_chunk<false>(pp, b0, nbc, x, k, r0, r1, off, y + j, ldy, ncols, b0 == 0);
        }
      }
    }
    return;
  }
  float* pw = static_cast<float*>(scratch);
  float* tmp = pw + k * kPanel;
  constexpr int R = 12;
  for (int64_t j = j0; j < j1; j += kPanel) {
    const int ncols = static_cast<int>(std::min<int64_t>(kPanel, j1 - j));
    pack_f32_panel(w, j, ncols, pw, tmp);
    int64_t r = r0;
    for (; r + R <= r1; r += R) kernel_f32<R>(pw, k, x, r, y + j, ldy, ncols);
    switch (r1 - r) {
      case 11: kernel_f32<11>(pw, k, x, r, y + j, ldy, ncols); break;
      case 10: kernel_f32<10>(pw, k, x, r, y + j, ldy, ncols); break;
      case 9: kernel_f32<9>(pw, k, x, r, y + j, ldy, ncols); break;
      case 8: kernel_f32<8>(pw, k, x, r, y + j, ldy, ncols); break;
      case 7: kernel_f32<7>(pw, k, x, r, y + j, ldy, ncols); break;
      case 6: kernel_f32<6>(pw, k, x, r, y + j, ldy, ncols); break;
      case 5: kernel_f32<5>(pw, k, x, r, y + j, ldy, ncols); break;
      case 4: kernel_f32<4>(pw, k, x, r, y + j, ldy, ncols); break;
      case 3: kernel_f32<3>(pw, k, x, r, y + j, ldy, ncols); break;
      case 2: kernel_f32<2>(pw, k, x, r, y + j, ldy, ncols); break;
      case 1: kernel_f32<1>(pw, k, x, r, y + j, ldy, ncols); break;
      default: break;
    }
  }
}

}  // namespace kvs::kernels::avx512
