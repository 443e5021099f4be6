#include "kv/kv_storage.h"

#include <algorithm>

#include "base/status.h"

namespace kvs::kv {

KvStorage::KvStorage(int64_t n_layer, int64_t n_blocks, int64_t block_size, int64_t n_kv_head, int64_t head_dim)
    : n_layer_(n_layer), n_blocks_(n_blocks), block_size_(block_size), n_kv_head_(n_kv_head), head_dim_(head_dim) {
  KVS_CHECK(n_layer > 0 && n_blocks > 0 && block_size > 0 && n_kv_head > 0 && head_dim > 0);
  k_.resize(n_layer);
  v_.resize(n_layer);
  for (int64_t l = 0; l < n_layer; ++l) {
    k_[l].assign(n_blocks * block_floats(), 0.0f);
    v_[l].assign(n_blocks * block_floats(), 0.0f);
  }
}

void KvStorage::copy_block(int64_t src, int64_t dst) {
  KVS_CHECK(src >= 0 && src < n_blocks_ && dst >= 0 && dst < n_blocks_);
  const int64_t n = block_floats();
  for (int64_t l = 0; l < n_layer_; ++l) {
    std::copy_n(k_[l].data() + src * n, n, k_[l].data() + dst * n);
    std::copy_n(v_[l].data() + src * n, n, v_[l].data() + dst * n);
  }
}

}  // namespace kvs::kv
