#include "kv/kv_storage.h"

#include <cstring>

#include "base/status.h"
#include "kernels/cpu/f16.h"

namespace kvs::kv {

int64_t KvStorage::dtype_bytes(DType dtype) {
  KVS_CHECK_MSG(dtype == DType::kF16 || dtype == DType::kF32, "KV storage holds f16 or f32 only");
  return dtype == DType::kF16 ? 2 : 4;
}

int64_t KvStorage::bytes_per_block(int64_t n_layer, int64_t block_size, int64_t n_kv_head, int64_t head_dim,
                                   DType dtype) {
  return 2 * n_layer * block_size * n_kv_head * head_dim * dtype_bytes(dtype);
}

KvStorage::KvStorage(int64_t n_layer, int64_t n_blocks, int64_t block_size, int64_t n_kv_head, int64_t head_dim,
                     DType dtype)
    : n_layer_(n_layer), n_blocks_(n_blocks), block_size_(block_size), n_kv_head_(n_kv_head), head_dim_(head_dim),
      dtype_(dtype), elem_bytes_(dtype_bytes(dtype)) {
  KVS_CHECK(n_layer > 0 && n_blocks > 0 && block_size > 0 && n_kv_head > 0 && head_dim > 0);
  k_.resize(n_layer);
  v_.resize(n_layer);
  for (int64_t l = 0; l < n_layer; ++l) {
    // Zero bytes are 0.0 in both types.
    k_[l].assign(static_cast<size_t>(n_blocks * block_elems() * elem_bytes_), std::byte{0});
    v_[l].assign(static_cast<size_t>(n_blocks * block_elems() * elem_bytes_), std::byte{0});
  }
}

std::byte* KvStorage::at(std::vector<std::byte>& a, int64_t block, int64_t head, int64_t slot) {
  return a.data() + (offset(block, head) + slot * head_dim_) * elem_bytes_;
}
const std::byte* KvStorage::at(const std::vector<std::byte>& a, int64_t block, int64_t head, int64_t slot) const {
  return a.data() + (offset(block, head) + slot * head_dim_) * elem_bytes_;
}

float* KvStorage::f32(std::vector<std::byte>& a, int64_t block, int64_t head) {
  KVS_CHECK_MSG(dtype_ == DType::kF32, "float view of an f16 KV store");
  return reinterpret_cast<float*>(at(a, block, head, 0));
}
const float* KvStorage::f32(const std::vector<std::byte>& a, int64_t block, int64_t head) const {
  KVS_CHECK_MSG(dtype_ == DType::kF32, "float view of an f16 KV store");
  return reinterpret_cast<const float*>(at(a, block, head, 0));
}

void KvStorage::store(std::vector<std::byte>& a, int64_t block, int64_t head, int64_t slot, int64_t n_rows,
                      const float* src) {
  KVS_CHECK(slot >= 0 && n_rows >= 0 && slot + n_rows <= block_size_ && block >= 0 && block < n_blocks_);
  std::byte* p = at(a, block, head, slot);
  if (dtype_ == DType::kF32) {
    std::memcpy(p, src, n_rows * head_dim_ * sizeof(float));
  } else {
    kernels::fp32_to_fp16_row(src, reinterpret_cast<uint16_t*>(p), n_rows * head_dim_);
  }
}

void KvStorage::load(const std::vector<std::byte>& a, int64_t block, int64_t head, int64_t slot, int64_t n_rows,
                     float* dst) const {
  KVS_CHECK(slot >= 0 && n_rows >= 0 && slot + n_rows <= block_size_ && block >= 0 && block < n_blocks_);
  const std::byte* p = at(a, block, head, slot);
  if (dtype_ == DType::kF32) {
    std::memcpy(dst, p, n_rows * head_dim_ * sizeof(float));
  } else {
    kernels::fp16_to_fp32_row(reinterpret_cast<const uint16_t*>(p), dst, n_rows * head_dim_);
  }
}

void KvStorage::store_k(int64_t layer, int64_t block, int64_t head, int64_t slot, int64_t n_rows, const float* src) {
  store(k_[layer], block, head, slot, n_rows, src);
}
void KvStorage::store_v(int64_t layer, int64_t block, int64_t head, int64_t slot, int64_t n_rows, const float* src) {
  store(v_[layer], block, head, slot, n_rows, src);
}
void KvStorage::load_k(int64_t layer, int64_t block, int64_t head, int64_t slot, int64_t n_rows, float* dst) const {
  load(k_[layer], block, head, slot, n_rows, dst);
}
void KvStorage::load_v(int64_t layer, int64_t block, int64_t head, int64_t slot, int64_t n_rows, float* dst) const {
  load(v_[layer], block, head, slot, n_rows, dst);
}

void KvStorage::copy_block(int64_t src, int64_t dst) {
  KVS_CHECK(src >= 0 && src < n_blocks_ && dst >= 0 && dst < n_blocks_);
  const int64_t n = block_elems() * elem_bytes_;
  for (int64_t l = 0; l < n_layer_; ++l) {
    std::memmove(k_[l].data() + dst * n, k_[l].data() + src * n, n);
    std::memmove(v_[l].data() + dst * n, v_[l].data() + src * n, n);
  }
}

void KvStorage::read_block(int64_t block, std::span<std::byte> out) const {
  KVS_CHECK(block >= 0 && block < n_blocks_);
  KVS_CHECK_MSG(static_cast<int64_t>(out.size()) == block_payload_bytes(), "read_block: wrong payload size");
  const int64_t n = block_elems() * elem_bytes_;
  std::byte* o = out.data();
  for (int64_t l = 0; l < n_layer_; ++l) {
    std::memcpy(o, k_[l].data() + block * n, n);
    std::memcpy(o + n, v_[l].data() + block * n, n);
    o += 2 * n;
  }
}

void KvStorage::write_block(int64_t block, std::span<const std::byte> in) {
  KVS_CHECK(block >= 0 && block < n_blocks_);
  KVS_CHECK_MSG(static_cast<int64_t>(in.size()) == block_payload_bytes(), "write_block: wrong payload size");
  const int64_t n = block_elems() * elem_bytes_;
  const std::byte* p = in.data();
  for (int64_t l = 0; l < n_layer_; ++l) {
    std::memcpy(k_[l].data() + block * n, p, n);
    std::memcpy(v_[l].data() + block * n, p + n, n);
    p += 2 * n;
  }
}

}  // namespace kvs::kv
