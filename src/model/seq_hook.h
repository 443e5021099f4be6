// SeqHook: a per-sequence observer and row filter inside one forward call (the forward contract, see
// docs/architecture.md). A ubatch holds rows of several sequences; each sequence may bring its own hook, which
// sees only its own rows, so prefill chunks, decode rows and the selective-recompute rows of several semantic
// admissions run in the same model::forward call.
//
// Contract (kept by Model::forward):
//  - after layer `layer` computed fresh Q/K/V (RoPE applied) for the sequence's active rows, and before they are
//    written to the cache, on_layer_kv is called once per hooked sequence that still has active rows;
//  - pos: the positions of that sequence's active rows, in ubatch order; q: (pos.size(), n_head * head_dim),
//    k / v: (pos.size(), kv_dim), row i belongs to pos[i];
//  - the returned value, when set, is the subset of pos (same order, possibly empty) that keeps computing from
//    layer + 1 on; nullopt keeps every row. All active rows (kept or not) write this layer's K/V; dropped rows
//    write no later layer, produce no logits and must not have out = 1;
//  - other sequences' rows are untouched by this hook: their outputs equal a forward without it.
// REQUIRES: a hooked sequence's rows are contiguous in the ubatch.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace kvs::model {

class SeqHook {
 public:
  virtual ~SeqHook() = default;
  virtual std::optional<std::vector<int32_t>> on_layer_kv(int layer, std::span<const int32_t> pos, const float* q,
                                                          const float* k, const float* v) = 0;
};

}  // namespace kvs::model
