// RoPE re-rotation of cached K: moving K computed at position p to position p + d.
//
// RoPE rotations compose, R(p + d) = R(d) R(p), so K stored rotated at p becomes K rotated at p + d by one
// more rotation of angle d * inv_freq[i] per pair (both pairings, see kernels/cpu/rope.h). V carries no
// position and is copied unchanged. Exact up to float rounding (~1e-6 relative for |d| up to 10^4).
//
// Slot layout (kv/kv_storage.h): a sequence's slot s lives in physical block blocks[s / block_size] at
// offset s % block_size; for one (layer, block, head) the block_size rows of head_dim floats are
// contiguous, so a run of slots inside one block is a contiguous (rows, head_dim) matrix per head.
//
// Invariants kept:
//  - copy_and_shift never writes a source slot: the donor's blocks may be shared by many requests and are
//    never mutated (REQUIRES: the source and destination slots do not overlap; checked).
//  - V is copied bit-exactly; K is copied bit-exactly when d == 0.
//  - Whatever the storage type (kv/kv_storage.h), K is rotated in float: f16 K is converted exactly to f32,
//    rotated, and stored back rounded to nearest even (one f16 rounding per copy, never accumulated in float).
#pragma once
#include <cstdint>
#include <span>

#include "kernels/cpu/rope.h"
#include "kv/kv_storage.h"

namespace kvs::kv {

// Rotates n_rows vectors of head_dim floats (k: (n_rows, head_dim), contiguous) in place by shift d.
void rope_shift_rows(float* k, int64_t n_rows, int64_t d, const kernels::RopeTable& rope, kernels::RopeType type);

// Copies every layer's K and V of slots [src_pos, src_pos + n) of the sequence with block table src_blocks
// into slots [dst_pos, dst_pos + n) of the sequence with block table dst_blocks (both in `kv`), rotating K by
// d = dst_pos - src_pos. Runs may start at any offset and span any number of blocks.
// REQUIRES: n >= 0; positions >= 0; the slots lie inside their tables; block ids < kv.n_blocks();
//           rope.head_dim == kv.head_dim(); source and destination physical slots disjoint.
void copy_and_shift(KvStorage& kv, std::span<const int32_t> src_blocks, int64_t src_pos,
                    std::span<const int32_t> dst_blocks, int64_t dst_pos, int64_t n, const kernels::RopeTable& rope,
                    kernels::RopeType type);
// The same with one table per layer (Gemma 3: local layers rotate with their own base): layer l's K is rotated by
// layer_rope[l]. REQUIRES: layer_rope.size() == kv.n_layer(); every table's head_dim == kv.head_dim().
void copy_and_shift(KvStorage& kv, std::span<const int32_t> src_blocks, int64_t src_pos,
                    std::span<const int32_t> dst_blocks, int64_t dst_pos, int64_t n,
                    std::span<const kernels::RopeTable* const> layer_rope, kernels::RopeType type);

}  // namespace kvs::kv
