// KvStorage: the physical K and V arrays behind a block pool, one pair per layer.
//
//   k[layer], v[layer]: float32 (n_blocks, n_kv_head, block_size, head_dim)
//
// A sequence's slot s (== its token position s) lives in block table[s / block_size] at offset
// s % block_size. K is stored already rotated by RoPE at the slot's position. Storage knows nothing about
// ownership; the BlockPool / KvManager decide which blocks a sequence may write.
//
// A block's payload (read_block / write_block, the bytes the disk tier stores) is, for each layer, K then V of
// the block, as raw stored elements of dtype():
//   payload: (n_layer, 2, n_kv_head, block_size, head_dim) elements, block_payload_bytes() bytes
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/dtype.h"

namespace kvs::kv {

class KvStorage {
 public:
  KvStorage(int64_t n_layer, int64_t n_blocks, int64_t block_size, int64_t n_kv_head, int64_t head_dim);

  int64_t n_layer() const { return n_layer_; }
  int64_t n_blocks() const { return n_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t n_kv_head() const { return n_kv_head_; }
  int64_t head_dim() const { return head_dim_; }
  // Floats of one block in one layer (K or V).
  int64_t block_floats() const { return n_kv_head_ * block_size_ * head_dim_; }
  static int64_t bytes_per_block(int64_t n_layer, int64_t block_size, int64_t n_kv_head, int64_t head_dim) {
    return 2 * n_layer * block_size * n_kv_head * head_dim * static_cast<int64_t>(sizeof(float));
  }

  // Start of (block, head) in a layer: block_size rows of head_dim floats.
  float* k(int64_t layer, int64_t block, int64_t head) { return k_[layer].data() + offset(block, head); }
  float* v(int64_t layer, int64_t block, int64_t head) { return v_[layer].data() + offset(block, head); }
  const float* k(int64_t layer, int64_t block, int64_t head) const { return k_[layer].data() + offset(block, head); }
  const float* v(int64_t layer, int64_t block, int64_t head) const { return v_[layer].data() + offset(block, head); }

  // Copies every layer's K and V of block `src` to block `dst`.
  void copy_block(int64_t src, int64_t dst);

  // Element type of the stored K/V (f32 today).
  DType dtype() const { return DType::kF32; }
  // Bytes of one block's payload (every layer's K and V; layout in the header comment).
  int64_t block_payload_bytes() const { return 2 * n_layer_ * block_floats() * static_cast<int64_t>(sizeof(float)); }
  // REQUIRES: 0 <= block < n_blocks(), out.size() == block_payload_bytes().
  void read_block(int64_t block, std::span<std::byte> out) const;
  // REQUIRES: 0 <= block < n_blocks(), in.size() == block_payload_bytes().
  void write_block(int64_t block, std::span<const std::byte> in);

 private:
  int64_t offset(int64_t block, int64_t head) const { return (block * n_kv_head_ + head) * block_size_ * head_dim_; }
  int64_t n_layer_, n_blocks_, block_size_, n_kv_head_, head_dim_;
  std::vector<std::vector<float>> k_, v_;  // (n_layer) x (n_blocks, n_kv_head, block_size, head_dim)
};

}  // namespace kvs::kv
