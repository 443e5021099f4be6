// Float GEMM for small m (decode) straight from the pre-packed records, AVX-512.
// Invariants: bit-identical to gemm_avx512.cpp's kernel_f32u8 over the unpacked panel (and hence to the large-m
// fp32-panel kernel and to the unregistered, repacked-per-call path): each weight is rebuilt in registers exactly
// as ref::dequantize_row computes it ((q - offset) * d, or q * d + mn: mul then add, no contraction), then one
// fp32 FMA per (row, column, element), in element order. Only where the bits come from changes: the nibbles and
// f16 scales are read from the record (prepack layout in gemm_avx512.cpp) instead of a u8 panel unpacked into
// scratch first, the accumulators stay in registers over the whole k, and records are prefetched ahead, so decode
// streams each weight byte once from memory and writes nothing but Y.
//
// Record of panel P, block b at packed + (P * nb + b) * rec (rec = 640 for Q4_0 / Q4_1, 704 for Q5_0, 768 for
// Q4_K, 1088 for Q8_0):
//   Q4 / Q5_0 / Q4_K: nib[(t * 2 + h) * 64 + 4 * c + e]: low nibble = element 4t+e, high nibble = element 16+4t+e
//       of column 16h+c; then d[32] (f16) at 512, mn[32] (f16) at 576 (Q4_1).
//   Q5_0: then hb[16] u64 at 512 (bit i of hb[g * 2 + h] = bit 4 of the u8 weight at byte i of group g, half h),
//       d[32] (f16) at 640.
//   Q4_K: then d[32], mn[32] as f32 at 512 / 640 (the sub-block products are not f16 values).
//   Q8_0: u8 (w + 128) of element 4g+e, column 16h+c at (g * 2 + h) * 64 + 4 * c + e; d[32] (f16) at 1024.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/gemv_avx512.h"

namespace kvs::kernels::avx512 {

namespace {

constexpr int kPanel = 32;

inline __m512 f16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

inline void store_cols(float* dst, __m512 v, int ncols) {
  if (ncols >= 16) {
    _mm512_storeu_ps(dst, v);
  } else if (ncols > 0) {
    _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << ncols) - 1), v);
  }
}

// Record geometry per type: bytes per record, where d / mn start and how they are stored, the weight offset,
// the quant mask.
template <DType T>
struct Rec {
  static constexpr bool kQ8 = T == DType::kQ8_0;
  static constexpr bool kQ5 = T == DType::kQ5_0;  // nibbles plus a high-bit mask per group and half
  static constexpr bool kF32Scales = T == DType::kQ4_K;
  static constexpr bool kMin = T == DType::kQ4_1 || T == DType::kQ4_K;
  static constexpr int kBytes = kQ8 ? 1088 : kQ5 ? 704 : kF32Scales ? 768 : 640;
  static constexpr int kD = kQ8 ? 1024 : kQ5 ? 640 : 512;
  static constexpr int kMn = kF32Scales ? 640 : 576;
  static constexpr int kHb = 512;
  static constexpr int kOff = T == DType::kQ4_0 ? 8 : kQ5 ? 16 : kQ8 ? 128 : 0;
  static constexpr int kMask = kQ8 || kQ5 ? 0xFF : 0x0F;
  // Byte offset of group g's 16-column half h, and the extra shift that selects its nibble.
  static constexpr int base(int g, int h) { return kQ8 ? (g * 2 + h) * 64 : ((g & 3) * 2 + h) * 64; }
  static constexpr int shift(int g) { return kQ8 || kQ5 ? 0 : (g >= 4 ? 4 : 0); }
};

// 32 scales (16 per half) of a record: f16 or f32 as the type stores them.
template <DType T>
inline void load_scales(const uint8_t* p, int at, __m512& s0, __m512& s1) {
  if constexpr (Rec<T>::kF32Scales) {
    s0 = _mm512_loadu_ps(p + at);
    s1 = _mm512_loadu_ps(p + at + 64);
  } else {
    s0 = f16x16(p + at);
    s1 = f16x16(p + at + 32);
  }
}

// Group g, half h of a record as a u8 vector when the type needs the nibbles joined first (Q5_0: nibble plus bit 4
// from the mask, exactly as gemm_avx512.cpp's unpack_prepacked rebuilds it); else the raw record bytes.
template <DType T>
inline __m512i group_bytes(const uint8_t* p, int g, int h) {
  const __m512i q = _mm512_load_si512(p + Rec<T>::base(g, h));
  if constexpr (Rec<T>::kQ5) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i nib = g >= 4 ? _mm512_and_si512(_mm512_srli_epi32(q, 4), m4) : _mm512_and_si512(q, m4);
    uint64_t hb;
    std::memcpy(&hb, p + Rec<T>::kHb + (g * 2 + h) * 8, 8);
    return _mm512_mask_add_epi8(nib, _cvtu64_mask64(hb), nib, _mm512_set1_epi8(0x10));
  } else {
    return q;
  }
}

// Prefetch distance in records (~5-9 KiB ahead: decode is bound by the memory stream).
constexpr int kAhead = 8;

// R rows of X (from r0) x one panel (nb records from `rec`): y[r][0..ncols) = sum over all k.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
template <int R, DType T>
void kernel_rec(const uint8_t* rec, int64_t nb, const float* x, int64_t k, int64_t r0, float* y, int64_t ldy,
                int ncols, bool prefetch) {
  using RT = Rec<T>;
  __m512 f0[R], f1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) f0[r] = f1[r] = _mm512_setzero_ps();
  const __m512i mask = _mm512_set1_epi32(RT::kMask), voff = _mm512_set1_epi32(RT::kOff);
  const float* xr = x + r0 * k;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = rec + b * RT::kBytes;
    if (prefetch) {
      const char* pf = reinterpret_cast<const char*>(p + kAhead * RT::kBytes);
#pragma GCC unroll 17
      for (int l = 0; l < RT::kBytes / 64; ++l) _mm_prefetch(pf + 64 * l, _MM_HINT_T0);
    }
    __m512 d0, d1, m0 = _mm512_setzero_ps(), m1 = m0;
    load_scales<T>(p, RT::kD, d0, d1);
    if constexpr (RT::kMin) load_scales<T>(p, RT::kMn, m0, m1);
#pragma GCC unroll 8
    for (int g = 0; g < 8; ++g) {
      const __m512i q0 = group_bytes<T>(p, g, 0);
      const __m512i q1 = group_bytes<T>(p, g, 1);
#pragma GCC unroll 4
      for (int e = 0; e < 4; ++e) {
        const int sh = 8 * e + RT::shift(g);
        __m512i v0 = _mm512_and_si512(_mm512_srli_epi32(q0, sh), mask);
        __m512i v1 = _mm512_and_si512(_mm512_srli_epi32(q1, sh), mask);
        if constexpr (!RT::kMin) {
          v0 = _mm512_sub_epi32(v0, voff);
          v1 = _mm512_sub_epi32(v1, voff);
        }
        __m512 w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(v0), d0);
        __m512 w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(v1), d1);
        if constexpr (RT::kMin) {
          w0 = _mm512_add_ps(w0, m0);
          w1 = _mm512_add_ps(w1, m1);
        }
        const float* xe = xr + 32 * b + 4 * g + e;
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

template <DType T>
void run_panel(const uint8_t* rec, int64_t nb, const float* x, int64_t k, int64_t r0, int64_t r1, float* y,
               int64_t ldy, int ncols) {
  constexpr int R = 8;
  int64_t r = r0;
  // The first row group streams the panel from memory (prefetching ahead); later ones find it in L1/L2.
  bool pf = true;
  for (; r + R <= r1; r += R, pf = false) kernel_rec<R, T>(rec, nb, x, k, r, y, ldy, ncols, pf);
  switch (r1 - r) {
    case 7: kernel_rec<7, T>(rec, nb, x, k, r, y, ldy, ncols, pf); break;
    case 6: kernel_rec<6, T>(rec, nb, x, k, r, y, ldy, ncols, pf); break;
    case 5: kernel_rec<5, T>(rec, nb, x, k, r, y, ldy, ncols, pf); break;
    case 4: kernel_rec<4, T>(rec, nb, x, k, r, y, ldy, ncols, pf); break;
    case 3: kernel_rec<3, T>(rec, nb, x, k, r, y, ldy, ncols, pf); break;
    case 2: kernel_rec<2, T>(rec, nb, x, k, r, y, ldy, ncols, pf); break;
    case 1: kernel_rec<1, T>(rec, nb, x, k, r, y, ldy, ncols, pf); break;
    default: break;
  }
}

template <DType T>
void run_panels(const detail::WView& w, int64_t j0, int64_t j1, const float* x, int64_t r0, int64_t r1, float* y,
                int64_t ldy) {
  const int64_t nb = w.k / 32;
  for (int64_t j = j0; j < j1; j += kPanel) {
    const int ncols = static_cast<int>(std::min<int64_t>(kPanel, j1 - j));
    const uint8_t* rec = w.packed + (j / kPanel) * nb * Rec<T>::kBytes;
    run_panel<T>(rec, nb, x, w.k, r0, r1, y + j, ldy, ncols);
  }
}

}  // namespace

bool gemm_f32_prepacked(const detail::WView& w, int64_t j0, int64_t j1, const float* x, int64_t r0, int64_t r1,
                        float* y, int64_t ldy) {
  if (w.packed == nullptr) return false;
  switch (w.type) {
    case DType::kQ4_0: run_panels<DType::kQ4_0>(w, j0, j1, x, r0, r1, y, ldy); return true;
    case DType::kQ4_1: run_panels<DType::kQ4_1>(w, j0, j1, x, r0, r1, y, ldy); return true;
    case DType::kQ8_0: run_panels<DType::kQ8_0>(w, j0, j1, x, r0, r1, y, ldy); return true;
    case DType::kQ5_0: run_panels<DType::kQ5_0>(w, j0, j1, x, r0, r1, y, ldy); return true;
    case DType::kQ4_K: run_panels<DType::kQ4_K>(w, j0, j1, x, r0, r1, y, ldy); return true;
    default: return false;
  }
}

}  // namespace kvs::kernels::avx512
