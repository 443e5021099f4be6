#include "kv/kv_storage.h"

#include <algorithm>
#include <cstring>

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

void KvStorage::read_block(int64_t block, std::span<std::byte> out) const {
  KVS_CHECK(block >= 0 && block < n_blocks_ && static_cast<int64_t>(out.size()) == block_payload_bytes());
  const size_t n = static_cast<size_t>(block_floats()) * sizeof(float);
  std::byte* dst = out.data();
  for (int64_t l = 0; l < n_layer_; ++l) {
    std::memcpy(dst, k_[l].data() + block * block_floats(), n);
    std::memcpy(dst + n, v_[l].data() + block * block_floats(), n);
    dst += 2 * n;
  }
}

void KvStorage::write_block(int64_t block, std::span<const std::byte> in) {
  KVS_CHECK(block >= 0 && block < n_blocks_ && static_cast<int64_t>(in.size()) == block_payload_bytes());
  const size_t n = static_cast<size_t>(block_floats()) * sizeof(float);
  const std::byte* src = in.data();
  for (int64_t l = 0; l < n_layer_; ++l) {
    std::memcpy(k_[l].data() + block * block_floats(), src, n);
    std::memcpy(v_[l].data() + block * block_floats(), src + n, n);
    src += 2 * n;
  }
}

}  // namespace kvs::kv
