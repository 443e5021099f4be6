#include "model/attention.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/attention.h"

namespace kvs::model {

void attention_rows(const UBatch& ub, std::span<const int32_t> rows, std::span<const SeqKvView> views,
                    const kv::KvStorage& kv, int64_t layer, const AttentionShape& sh, const float* q, float* out,
                    ThreadPool* pool) {
  const int64_t n_active = static_cast<int64_t>(rows.size());
  thread_local std::vector<int32_t> pos;            // (n_active) position of each active row
  thread_local std::vector<kernels::AttnSeq> runs;  // runs of consecutive active rows of one sequence
  pos.resize(n_active);
  runs.clear();
  for (int64_t i = 0; i < n_active; ++i) {
    pos[i] = ub.pos[rows[i]];
    const int32_t s = ub.seq[rows[i]];
    if (i > 0 && ub.seq[rows[i - 1]] == s) {
      ++runs.back().n_rows;
    } else {
      runs.push_back({views[s].blocks, i, 1});
    }
  }
  kernels::PagedKv pkv;
  pkv.dtype = kv.dtype();
  pkv.k = kv.k_data(layer);
  pkv.v = kv.v_data(layer);
  pkv.block_stride = kv.block_elems();
  pkv.head_stride = kv.block_size() * sh.head_dim;
  pkv.block_size = kv.block_size();
  kernels::AttnArgs a;
  a.n_head = sh.n_head;
  a.n_head_kv = sh.n_head_kv;
  a.head_dim = sh.head_dim;
  a.scale = sh.scale > 0.0f ? sh.scale : 1.0f / std::sqrt(static_cast<float>(sh.head_dim));
  a.window = sh.window;
  a.q = q;
  a.ldq = sh.n_head * sh.head_dim;
  a.pos = pos.data();
  a.out = out;
  a.ldo = sh.n_head * sh.head_dim;
  kernels::attention_paged(a, pkv, runs, pool);
}

}  // namespace kvs::model
