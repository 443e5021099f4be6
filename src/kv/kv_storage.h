// KvStorage: the physical K and V arrays behind a block pool, one pair per layer.
//
//   k[layer], v[layer]: dtype (n_blocks, n_kv_head, block_size, head_dim), dtype f16 (default) or f32
//
// A sequence's slot s (== its token position s) lives in block table[s / block_size] at offset
// s % block_size. K is stored already rotated by RoPE at the slot's position. Storage knows nothing about
// ownership; the BlockPool / KvManager decide which blocks a sequence may write.
//
// Invariants:
//  - Elements are stored as `dtype()`: f32 bit-exactly, f16 rounded to nearest even (kernels/cpu/f16.h); every
//    reader converts back exactly (f16 -> f32), so a slot reads back the same bits wherever it is read.
//  - The float accessors k() / v() exist for f32 storage only (checked); store_* / load_* work for both.
//  - A block's payload (read_block / write_block, the disk tier's unit) is, for layer 0 .. n_layer - 1: that
//    layer's K of the block then its V, each (n_kv_head, block_size, head_dim) raw elements as stored.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/dtype.h"

namespace kvs::kv {

class KvStorage {
 public:
  // REQUIRES: dtype is kF16 or kF32; every size > 0.
  KvStorage(int64_t n_layer, int64_t n_blocks, int64_t block_size, int64_t n_kv_head, int64_t head_dim,
            DType dtype = DType::kF16);

  int64_t n_layer() const { return n_layer_; }
  int64_t n_blocks() const { return n_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t n_kv_head() const { return n_kv_head_; }
  int64_t head_dim() const { return head_dim_; }
  DType dtype() const { return dtype_; }
  int64_t elem_bytes() const { return elem_bytes_; }
  // Elements of one block in one layer (K or V).
  int64_t block_elems() const { return n_kv_head_ * block_size_ * head_dim_; }
  // Bytes of one block, every layer, K and V (the payload of read_block / write_block).
  int64_t block_payload_bytes() const { return 2 * n_layer_ * block_elems() * elem_bytes_; }
  static int64_t bytes_per_block(int64_t n_layer, int64_t block_size, int64_t n_kv_head, int64_t head_dim,
                                 DType dtype = DType::kF16);
  static int64_t dtype_bytes(DType dtype);  // 2 (f16) or 4 (f32); REQUIRES: one of them

  // Start of layer l's K / V (block 0, head 0): the attention kernel's PagedKv base, in dtype() elements.
  const void* k_data(int64_t layer) const { return k_[layer].data(); }
  const void* v_data(int64_t layer) const { return v_[layer].data(); }

  // Float views of (block, head): block_size rows of head_dim floats. REQUIRES: dtype() == kF32.
  float* k(int64_t layer, int64_t block, int64_t head) { return f32(k_[layer], block, head); }
  float* v(int64_t layer, int64_t block, int64_t head) { return f32(v_[layer], block, head); }
  const float* k(int64_t layer, int64_t block, int64_t head) const { return f32(k_[layer], block, head); }
  const float* v(int64_t layer, int64_t block, int64_t head) const { return f32(v_[layer], block, head); }

  // Rows [slot, slot + n_rows) of (layer, block, head), head_dim floats each (src / dst: (n_rows, head_dim)),
  // converted to / from dtype(). REQUIRES: slot + n_rows <= block_size.
  void store_k(int64_t layer, int64_t block, int64_t head, int64_t slot, int64_t n_rows, const float* src);
  void store_v(int64_t layer, int64_t block, int64_t head, int64_t slot, int64_t n_rows, const float* src);
  void load_k(int64_t layer, int64_t block, int64_t head, int64_t slot, int64_t n_rows, float* dst) const;
  void load_v(int64_t layer, int64_t block, int64_t head, int64_t slot, int64_t n_rows, float* dst) const;

  // Copies every layer's K and V of block `src` to block `dst`.
  void copy_block(int64_t src, int64_t dst);
  // out (block_payload_bytes()) = the block's payload; write_block is its inverse. REQUIRES: sizes equal.
  void read_block(int64_t block, std::span<std::byte> out) const;
  void write_block(int64_t block, std::span<const std::byte> in);

 private:
  int64_t offset(int64_t block, int64_t head) const { return (block * n_kv_head_ + head) * block_size_ * head_dim_; }
  std::byte* at(std::vector<std::byte>& a, int64_t block, int64_t head, int64_t slot);
  const std::byte* at(const std::vector<std::byte>& a, int64_t block, int64_t head, int64_t slot) const;
  float* f32(std::vector<std::byte>& a, int64_t block, int64_t head);
  const float* f32(const std::vector<std::byte>& a, int64_t block, int64_t head) const;
  void store(std::vector<std::byte>& a, int64_t block, int64_t head, int64_t slot, int64_t n_rows, const float* src);
  void load(const std::vector<std::byte>& a, int64_t block, int64_t head, int64_t slot, int64_t n_rows,
            float* dst) const;

  int64_t n_layer_, n_blocks_, block_size_, n_kv_head_, head_dim_;
  DType dtype_;
  int64_t elem_bytes_;
  std::vector<std::vector<std::byte>> k_, v_;  // (n_layer) x (n_blocks, n_kv_head, block_size, head_dim) dtype
};

}  // namespace kvs::kv
