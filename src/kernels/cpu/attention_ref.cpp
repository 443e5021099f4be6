// Scalar paths of attention_paged: the reference (double accumulation, exact softmax) and the scalar ISA's tile
// kernel (float, the same tile/chunk structure as the SIMD kernels of attention_tile.inc).
#include <algorithm>
#include <cmath>
#include <vector>

#include "base/status.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/ops.h"

namespace kvs::kernels {

namespace ref {

void attention_paged(const AttnArgs& a, const PagedKv& kv, std::span<const AttnSeq> seqs) {
  KVS_CHECK((kv.dtype == DType::kF32 || kv.dtype == DType::kF16) && a.n_head % a.n_head_kv == 0);
  const int64_t hd = a.head_dim, group = a.n_head / a.n_head_kv, bs = kv.block_size;
  std::vector<double> s, o(hd);
  std::vector<float> kf(hd), vf(hd);  // (head_dim) one key / value as floats
  for (const AttnSeq& sq : seqs) {
    for (int64_t r = sq.row0; r < sq.row0 + sq.n_rows; ++r) {
      const int64_t p = a.pos[r], lo = a.window > 0 ? std::max<int64_t>(0, p - a.window + 1) : 0;
      for (int64_t h = 0; h < a.n_head; ++h) {
        const int64_t g = h / group;
        const float* q = a.q + r * a.ldq + h * hd;
        // Slot j of K or V as floats (an f16 element through the scalar conversion).
        auto slot = [&](const void* base, int64_t j, std::vector<float>& buf) -> const float* {
          const int64_t e = sq.blocks[j / bs] * kv.block_stride + g * kv.head_stride + (j % bs) * hd;
          if (kv.dtype == DType::kF32) return static_cast<const float*>(base) + e;
          const uint16_t* h = static_cast<const uint16_t*>(base) + e;
          for (int64_t i = 0; i < hd; ++i) buf[i] = fp16_to_fp32(h[i]);
          return buf.data();
        };
        s.assign(p - lo + 1, 0.0);
        double mx = -INFINITY;
        for (int64_t j = lo; j <= p; ++j) {
          const float* k = slot(kv.k, j, kf);
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(q[i]) * k[i];
          s[j - lo] = d * a.scale;
          mx = std::max(mx, s[j - lo]);
        }
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - mx));
        std::fill(o.begin(), o.end(), 0.0);
        for (int64_t j = lo; j <= p; ++j) {
          const float* v = slot(kv.v, j, vf);
          for (int64_t i = 0; i < hd; ++i) o[i] += s[j - lo] * v[i];
        }
        float* out = a.out + r * a.ldo + h * hd;
        for (int64_t i = 0; i < hd; ++i) out[i] = static_cast<float>(o[i] / sum);
      }
    }
  }
}

}  // namespace ref

namespace detail {

namespace {
inline float as_f32(float x) { return x; }
inline float as_f32(uint16_t h) { return fp16_to_fp32(h); }

template <typename E>
void attn_chunk_scalar_t(const AttnChunk& c, float* m, float* l, float* acc, float* scratch) {
  const int64_t R = c.R, hd = c.hd, bs = c.block_size;
  float* s = scratch;  // (16) scores of one vector
  for (int64_t r = 0; r < R; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
  }
  std::fill(acc, acc + R * hd, 0.0f);
  for (int64_t t0 = c.c0; t0 < c.c1;) {
    const int64_t b = t0 / bs;
    const int64_t t1 = std::min({t0 + kAttnTileKeys, (b + 1) * bs, c.c1});
    const E* kb = static_cast<const E*>(c.k_head) + c.blocks[b] * c.block_stride + (t0 % bs) * hd;
    const E* vb = static_cast<const E*>(c.v_head) + c.blocks[b] * c.block_stride + (t0 % bs) * hd;
    for (int64_t r = 0; r < R; ++r) {
      const int64_t j0 = std::max<int64_t>(t0, c.lo[r]), j1 = std::min<int64_t>(t1, c.hi[r] + 1);
      if (j0 >= j1) continue;
      const float* q = c.qp + r * hd;
      float mt = -INFINITY;
      for (int64_t j = j0; j < j1; ++j) {
        const E* k = kb + (j - t0) * hd;
        float d = 0;
        for (int64_t i = 0; i < hd; ++i) d += q[i] * as_f32(k[i]);
        s[j - t0] = d;
        mt = std::max(mt, d);
      }
      const float mn = std::max(m[r], mt);
      const float alpha = m[r] == -INFINITY ? 0.0f : std::exp(m[r] - mn);
      float* o = acc + r * hd;
      for (int64_t i = 0; i < hd; ++i) o[i] *= alpha;
      float sum = 0;
      for (int64_t j = j0; j < j1; ++j) {
        const float e = std::exp(s[j - t0] - mn);
        sum += e;
        const E* v = vb + (j - t0) * hd;
        for (int64_t i = 0; i < hd; ++i) o[i] += e * as_f32(v[i]);
      }
      l[r] = l[r] * alpha + sum;
      m[r] = mn;
    }
    t0 = t1;
  }
}

}  // namespace

void attn_chunk_scalar(const AttnChunk& c, float* m, float* l, float* acc, float* scratch) {
  if (c.dtype == DType::kF16) return attn_chunk_scalar_t<uint16_t>(c, m, l, acc, scratch);
  attn_chunk_scalar_t<float>(c, m, l, acc, scratch);
}

}  // namespace detail

}  // namespace kvs::kernels
