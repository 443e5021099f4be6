// Deviation scores of reused tokens at the blend layer (the inputs of deviation_select.h). Pure functions over
// plain arrays: the engine gathers the layer's fresh and reused K/V, these turn them into one score per token.
//
//   relative_kv_deviation     CacheBlend's HKVD score of one token: ||k_new - k_old|| / ||k_new|| +
//                             ||v_new - v_old|| / ||v_new|| over all KV heads (scale-free: the guard reads it).
//   attention_weighted_v_deviation
//                             for every candidate token j: mean over query rows i and heads h of
//                             softmax_j'(q_i,h . k_j' * scale)[j] * ||v_new_j - v_old_j||_(kv head of h),
//                             with causal masking (j <= pos_i): how much of token j's V error reaches the
//                             attention outputs of the rows that are recomputed anyway.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace kvs::share {

struct HeadShape {
  int64_t n_head = 0, n_head_kv = 0, head_dim = 0;  // n_head % n_head_kv == 0
  int64_t window = 0;  // the layer's sliding window: a query at p weighs only keys in (p - window, p]; 0 = none
  double scale = 0;    // the layer's softmax scale of q.k; 0 = 1 / sqrt(head_dim)
  int64_t kv_dim() const { return n_head_kv * head_dim; }
};

// k_new/v_new: (kv_dim); k_old/v_old: per KV head g, head_dim floats at k_old[g * old_stride].
float relative_kv_deviation(const HeadShape& s, const float* k_new, const float* v_new, const float* k_old,
                            const float* v_old, int64_t old_stride);

// k_all: (n_pos, kv_dim) this layer's K (rotated) of positions 0 .. n_pos - 1, fresh wherever it was recomputed;
// q: (q_pos.size(), n_head * head_dim) queries (rotated) at positions q_pos; dv: (cand_pos.size(), n_head_kv)
// ||v_new - v_old|| per KV head of each candidate. Returns (cand_pos.size()) scores. With a window, a candidate
// outside every query's window scores 0 (no recomputed row attends to it at this layer).
// REQUIRES: every position < n_pos.
std::vector<float> attention_weighted_v_deviation(const HeadShape& s, std::span<const float> k_all, int64_t n_pos,
                                                  std::span<const float> q, std::span<const int32_t> q_pos,
                                                  std::span<const float> dv, std::span<const int32_t> cand_pos);

}  // namespace kvs::share
