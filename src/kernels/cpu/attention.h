// Tiled (flash-style) causal attention over paged KV: blocks of queries against tiles of keys with an online
// softmax, never an n x n score matrix. Used for prefill chunks, selective-recompute rows and decode alike.
//
//   out[r, h] = sum_{j in [lo_r, pos_r]} softmax_j(q[r, h] . K[j, h / group] * scale) V[j, h / group]
//   lo_r = 0, or max(0, pos_r - window + 1) with a sliding window; K/V slot j of a sequence lives in physical block
//   blocks[j / block_size] at offset j % block_size.
//
// Invariants (what the forward contract relies on):
//  - A row's result depends only on its own q, its position and its sequence's KV slots, never on the other rows of
//    the call, the query tiling, the thread count or how the key range is split across threads: keys are visited in
//    tiles at fixed positions (16 keys, never crossing a block), tiles are grouped into chunks of kAttnChunkKeys
//    positions (whole blocks) whose partial softmax states (max, sum, weighted V) are merged in chunk order, and
//    every lane of a tile is computed the same way whether its neighbours are masked or not. So one-shot prefill,
//    chunked prefill, decode and a multi-sequence batch give the same bits (on one ISA).
//  - Reads only slots [lo_r, max pos of the tile]: every one of them must have been written (the forward contract).
// Paths: the scalar reference ref::attention_paged (double accumulation, full softmax per row) for the tests; the
// per-ISA tile kernels (scalar / AVX2 / AVX-512, chosen with the op table, see ops.h) under attention_paged.
// The KV element type (PagedKv::dtype) is f32 or f16: an f16 tile is converted to f32 as it is loaded (F16C
// vcvtph2ps on AVX2 / AVX-512, the exact scalar conversion elsewhere), then the arithmetic is the f32 one.
#pragma once
#include <cstdint>
#include <span>

#include "base/dtype.h"
#include "base/thread_pool.h"

namespace kvs::kernels {

// Keys per chunk whose partial softmax state is kept separately and merged in order (the unit of splitting the key
// range across threads for decode). Rounded up to whole blocks.
constexpr int64_t kAttnChunkKeys = 256;
// Keys per tile (the SIMD width of the score kernels).
constexpr int64_t kAttnTileKeys = 16;

// One layer of a paged KV store: element (block b, kv head g, slot s, dim d) of K at
// k + b * block_stride + g * head_stride + s * head_dim + d (same for V).
struct PagedKv {
  DType dtype = DType::kF32;  // element type of K and V: kF32 or kF16
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t block_stride = 0, head_stride = 0;  // in elements
  int64_t block_size = 0;
};

// A run of query rows of one sequence: rows [row0, row0 + n_rows) of q / pos / out.
struct AttnSeq {
  std::span<const int32_t> blocks;  // logical block -> physical block
  int64_t row0 = 0, n_rows = 0;
};

struct AttnArgs {
  int64_t n_head = 0, n_head_kv = 0, head_dim = 0;
  float scale = 1.0f;      // usually 1 / sqrt(head_dim)
  int64_t window = 0;      // 0: full causal; w > 0: keys [pos - w + 1, pos]
  const float* q = nullptr;     // (n_rows, ldq): row r, head h at q + r * ldq + h * head_dim
  int64_t ldq = 0;
  const int32_t* pos = nullptr;  // (n_rows) position of each row (any order, need not be contiguous)
  float* out = nullptr;          // (n_rows, ldo), same layout as q
  int64_t ldo = 0;
};

// REQUIRES: n_head % n_head_kv == 0; kv.dtype is kF32 or kF16; every row's blocks cover its position.
void attention_paged(const AttnArgs& a, const PagedKv& kv, std::span<const AttnSeq> seqs, ThreadPool* pool);

namespace ref {
// Reference: per row and head, all scores in double, exact softmax, weighted sum in double.
void attention_paged(const AttnArgs& a, const PagedKv& kv, std::span<const AttnSeq> seqs);
}  // namespace ref

namespace detail {
// The per-ISA tile kernel: R query vectors (packed, already scaled: qp (R, hd)) against the keys of positions
// [c0, c1) of one kv head (a chunk; c0 at a block boundary), each vector masked to its own [lo[r], hi[r]].
// Writes the chunk's partial state: m (R) running max, l (R) sum of exp, acc (R, hd) unnormalised output
// (m = -inf, l = 0, acc = 0 for a vector with no key in the chunk). scratch: >= attn_scratch_floats(R, hd).
struct AttnChunk {
  const float* qp;
  int64_t R, hd;
  const int32_t* lo;
  const int32_t* hi;
  DType dtype;          // element type of k_head / v_head: kF32 (float) or kF16 (uint16_t IEEE half)
  const void* k_head;   // K of block 0 (physical), this kv head; block b at k_head + blocks[b] * block_stride elements
  const void* v_head;
  const int32_t* blocks;
  int64_t block_stride, block_size;
  int64_t c0, c1;
};
inline int64_t attn_scratch_floats(int64_t R, int64_t hd) { return hd * kAttnTileKeys + R * kAttnTileKeys + 3 * R + 64; }
void attn_chunk_scalar(const AttnChunk& c, float* m, float* l, float* acc, float* scratch);
}  // namespace detail

}  // namespace kvs::kernels
