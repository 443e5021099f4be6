// AVX2 + FMA tile kernel of attention_paged: attention_tile.inc over 8-lane ymm vectors (a 16-key tile row is two).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/attention.h"

namespace kvs::kernels::avx2 {

namespace {
// exp(x), cephes polynomial (as kernels_256.inc's exp256).
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
  x = _mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f));
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i n = _mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127));
  n = _mm256_max_epi32(n, _mm256_setzero_si256());
  return _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(n, 23)));
}

void transpose_tile_scalar(const float* kb, int64_t nk, int64_t hd, float* kt);

struct VT {
  using V = __m256;
  static void transpose_tile(const float* kb, int64_t nk, int64_t hd, float* kt) {
    transpose_tile_scalar(kb, nk, hd, kt);
  }
  // f16 key rows: 8 elements converted at a time, then scattered into the tile's column j.
  static void transpose_tile(const uint16_t* kb, int64_t nk, int64_t hd, float* kt) {
    if (nk < kAttnTileKeys)
      for (int64_t d = 0; d < hd; ++d)
        for (int64_t j = nk; j < kAttnTileKeys; ++j) kt[d * kAttnTileKeys + j] = 0.0f;
    alignas(32) float x[8];
    for (int64_t j = 0; j < nk; ++j)
      for (int64_t d0 = 0; d0 < hd; d0 += 8) {
        _mm256_store_ps(x, load(kb + j * hd + d0));
        for (int i = 0; i < 8; ++i) kt[(d0 + i) * kAttnTileKeys + j] = x[i];
      }
  }
  static constexpr int kLanes = 8, kScoreRows = 2, kPvRows = 2, kPvVecs = 4;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float f) { return _mm256_set1_ps(f); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V exp(V x) { return exp8(x); }
  static float hsum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(V v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // Lane i of v where bit i of bits is set, else lane i of other.
  static V select(uint32_t bits, V v, V other) {
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i on = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits & 0xFF)), lane), lane);
    return _mm256_blendv_ps(other, v, _mm256_castsi256_ps(on));
  }
};
}  // namespace

#include "kernels/cpu/attention_tile.inc"

namespace {
void transpose_tile_scalar(const float* kb, int64_t nk, int64_t hd, float* kt) {
  attn_tile::transpose_tile_scalar(kb, nk, hd, kt);
}
}  // namespace

void attn_chunk(const detail::AttnChunk& c, float* m, float* l, float* acc, float* scratch) {
  attn_tile::attn_chunk(c, m, l, acc, scratch);
}

}  // namespace kvs::kernels::avx2
