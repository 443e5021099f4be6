#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/ops.h"

namespace kvs::model {

void attention_rows(const UBatch& ub, std::span<const int32_t> rows, std::span<const SeqKvView> views,
                    const kv::KvStorage& kv, int64_t layer, const AttentionShape& sh, const float* q, float* out,
                    ThreadPool* pool) {
  const int64_t n_active = static_cast<int64_t>(rows.size());
  const int64_t hd = sh.head_dim, group = sh.n_head / sh.n_head_kv, bs = kv.block_size();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t n_tasks = n_active * sh.n_head;
  pool->parallel_range(n_tasks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> scores;  // (p + 1)
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / sh.n_head, h = t % sh.n_head, g = h / group;
      const int32_t r = rows[i];
      const int64_t p = ub.pos[r];
      const SeqKvView& view = views[ub.seq[r]];
      const float* qv = q + i * sh.n_head * hd + h * hd;
      float* ov = out + i * sh.n_head * hd + h * hd;
      scores.resize(p + 1);
      float mx = -INFINITY;
      for (int64_t j0 = 0; j0 <= p; j0 += bs) {
        const float* kb = kv.k(layer, view.blocks[j0 / bs], g);
        const int64_t nj = std::min<int64_t>(bs, p + 1 - j0);
        for (int64_t jj = 0; jj < nj; ++jj) {
          float s = kernels::dot_f32(qv, kb + jj * hd, hd) * scale;
          scores[j0 + jj] = s;
          mx = std::max(mx, s);
        }
      }
      float sum = 0.0f;
      for (int64_t j = 0; j <= p; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      const float inv = 1.0f / sum;
      std::fill(ov, ov + hd, 0.0f);
      for (int64_t j0 = 0; j0 <= p; j0 += bs) {
        const float* vb = kv.v(layer, view.blocks[j0 / bs], g);
        const int64_t nj = std::min<int64_t>(bs, p + 1 - j0);
        for (int64_t jj = 0; jj < nj; ++jj) kernels::axpy(ov, vb + jj * hd, scores[j0 + jj] * inv, hd);
      }
    }
  });
}

}  // namespace kvs::model
