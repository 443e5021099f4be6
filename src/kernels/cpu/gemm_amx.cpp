// AMX int8 panel product (see gemm_amx.h). Per 16 X rows and one 16-column half of the panel, for every block:
//   A tile (16 rows x 32 bytes): the rows' s8 activations of the block, stride k
//   B tile (8 rows x 64 bytes):  the half's u8 weights, already in the panel's VNNI order (group g = tile row g),
//                                stride 128 (the other half sits between)
//   C tile (16 x 16 int32):      tdpbsud (signed A x unsigned B) from zero, stored to a 1 KiB buffer,
// then the float epilogue of gemm_avx512.cpp's kernel_q8a, row by row, on 16 accumulators kept in registers.
// The tile configuration is loaded on every call (cheap next to a chunk), so nothing depends on thread history.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/gemm_amx.h"

namespace kvs::kernels::amx {

namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// tmm0 = A (16 x 32 B), tmm1 = B (8 x 64 B), tmm2 = C (16 x 64 B).
void load_config() {
  TileConfig c;
  c.rows[0] = 16;
  c.colsb[0] = 32;
  c.rows[1] = 8;
  c.colsb[1] = 64;
  c.rows[2] = 16;
  c.colsb[2] = 64;
  _tile_loadconfig(&c);
}

inline __m512 load_cols(const float* src, int ncols) {
  if (ncols >= 16) return _mm512_loadu_ps(src);
  if (ncols <= 0) return _mm512_setzero_ps();
  return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << ncols) - 1), src);
}

inline void store_cols(float* dst, __m512 v, int ncols) {
  if (ncols >= 16) {
    _mm512_storeu_ps(dst, v);
  } else if (ncols > 0) {
    _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << ncols) - 1), v);
  }
}

// 16 rows from r0, half h (columns 16h..16h+15, of which ncols_h exist), blocks [b0, b0 + nbc).
template <bool kMin>
void rows16_half(const uint8_t* q, const float* d, const float* mn, int64_t b0, int64_t nbc, int64_t nb,
                 const detail::QActs& x, int64_t r0, int off, float* y, int64_t ldy, int h, int ncols_h,
                 bool first) {
  alignas(64) int32_t c[kTileRows * 16];  // (16 rows, 16 columns) int32: the tile's products of one block
  __m512 f[kTileRows];
#pragma GCC unroll 16
  for (int r = 0; r < kTileRows; ++r)
    f[r] = first ? _mm512_setzero_ps() : load_cols(y + (r0 + r) * ldy + 16 * h, ncols_h);
  const int64_t k = x.k;
  const int8_t* xr = x.q + r0 * k + 32 * b0;
  for (int64_t lb = 0; lb < nbc; ++lb) {
    _tile_loadd(0, xr + 32 * lb, k);
    _tile_loadd(1, q + lb * 1024 + 64 * h, 128);
    _tile_zero(2);
    _tile_dpbsud(2, 0, 1);
    _tile_stored(2, c, 64);
    const __m512 dw = _mm512_load_ps(d + lb * 32 + 16 * h);
    __m512 mw = _mm512_setzero_ps();
    if constexpr (kMin) mw = _mm512_load_ps(mn + lb * 32 + 16 * h);
#pragma GCC unroll 16
    for (int r = 0; r < kTileRows; ++r) {
      const int64_t xi = (r0 + r) * nb + b0 + lb;
      __m512i a = _mm512_load_si512(c + 16 * r);
      if constexpr (!kMin) a = _mm512_sub_epi32(a, _mm512_set1_epi32(off * x.qsum[xi]));
      f[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(dw, _mm512_set1_ps(x.d[xi])), f[r]);
      if constexpr (kMin) f[r] = _mm512_fmadd_ps(mw, _mm512_set1_ps(x.s[xi]), f[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kTileRows; ++r) store_cols(y + (r0 + r) * ldy + 16 * h, f[r], ncols_h);
}

}  // namespace

void q8a_panel(const uint8_t* q, const float* d, const float* mn, int64_t b0, int64_t nbc, int64_t nb,
               const detail::QActs& x, int64_t r0, int64_t r1, int off, float* y, int64_t ldy, int ncols,
               bool first) {
  load_config();
  for (int64_t r = r0; r + kTileRows <= r1; r += kTileRows)
    for (int h = 0; h < 2; ++h) {
      const int nh = std::clamp(ncols - 16 * h, 0, 16);
      if (nh == 0) continue;
      if (off < 0) {
        rows16_half<true>(q, d, mn, b0, nbc, nb, x, r, off, y, ldy, h, nh, first);
      } else {
        rows16_half<false>(q, d, mn, b0, nbc, nb, x, r, off, y, ldy, h, nh, first);
      }
    }
}

}  // namespace kvs::kernels::amx
