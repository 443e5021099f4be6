// Causal grouped-query attention over paged KV.
// For each active row r (ubatch row rows[i], sequence s, position p) and head h (kv head g = h / group):
//   out[i, h] = sum_{j <= p} softmax_j(q[i, h] . K_s[j, g] * scale) V_s[j, g]
// where K_s[j] / V_s[j] is slot j of sequence s's view (j > p - window with a sliding window). Reads only; the
// caller wrote this ubatch's K/V first. The tiled kernel (kernels/cpu/attention.h) keeps every row's result
// independent of the other rows, of the thread count and of how the work is split (the forward contract).
#pragma once
#include <cstdint>
#include <span>

#include "base/thread_pool.h"
#include "kv/kv_storage.h"
#include "model/ubatch.h"

namespace kvs::model {

struct AttentionShape {
  int64_t n_head, n_head_kv, head_dim;
  int64_t window = 0;  // 0: full causal; w > 0: each row sees its last w positions
  float scale = 0.0f;  // softmax scale of q.k; 0: 1 / sqrt(head_dim)
};

// q: (n_active, n_head * head_dim), out: (n_active, n_head * head_dim)
void attention_rows(const UBatch& ub, std::span<const int32_t> rows, std::span<const SeqKvView> views,
                    const kv::KvStorage& kv, int64_t layer, const AttentionShape& shape, const float* q, float* out,
                    ThreadPool* pool);

}  // namespace kvs::model
