// Model: a loaded decoder (Llama family or Gemma 3: mapped GGUF, hparams with the architecture description, weight
// views) and its forward pass. Per layer: its RoPE table (layer_rope) and sliding window (hparams().spec.layers)
// apply to everything that reads that layer's K (attention, re-rotation, deviation scoring).
//
// forward(ubatch, views, kv, logits, pool, hooks): every row writes its K/V into its sequence's slot `pos`, then
// attends causally over all slots [0, pos] of its sequence. Prefill, decode, chunked prefill and selective
// recompute are the same call; only the rows differ, and rows of many sequences share one call. Per-sequence
// hooks (seq_hook.h) observe a sequence's fresh K/V and may drop its rows after a layer (CacheBlend).
// Logits come back for rows with out = 1, in row order. Each row's result depends only on its own token,
// position and its sequence's KV slots: the kernels are batch-invariant, so the same row gives the same bits
// alone, chunked, or batched with other sequences.
#pragma once
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "kernels/cpu/rope.h"
#include "kv/kv_storage.h"
#include "model/hparams.h"
#include "model/seq_hook.h"
#include "model/ubatch.h"
#include "model/weights.h"

namespace kvs::model {

// Numeric precision of the matmuls. kInt8: activations quantised to 8 bits per block of 32 (llama.cpp's scheme,
// fastest). kMixed: float activations for the q/k/v projections and the output head, int8 for the rest.
// kF32 (default): float activations everywhere.
// Measured against transformers (float32, same GGUF) on 22 prompts (bench/precision_bars.py, 2026-12-04, f16 KV):
// kF32 max |logit diff| 0.014, top-1 22/22, greedy 32-token continuations identical 22/22; kMixed 0.76, 22/22,
// greedy 11/22; kInt8 1.23, top-1 20/22, greedy 9/22 (bars: top-1 >= 21, greedy >= 20), at 1.56x / 1.77x f32's
// pp512. The default is the exact one: kvshare's promise is answers as good as full computation.
enum class Precision : uint8_t { kInt8, kMixed, kF32 };
bool parse_precision(const std::string& s, Precision* out);

class Model {
 public:
  static Result<std::unique_ptr<Model>> load(const std::string& path);
  ~Model();  // releases the weights' packed copies (kernels::release_immutable_weights)

  const HParams& hparams() const { return hp_; }
  const Weights& weights() const { return w_; }
  const gguf::GgufFile& file() const { return *file_; }
  // The global RoPE table (rope.freq_base): Llama-family models have only this one.
  const kernels::RopeTable& rope() const { return ropes_[0]; }
  // Layer l's table (Gemma 3: local layers use the local base). (n_layer) pointers, valid while the model lives.
  const kernels::RopeTable& layer_rope(int64_t l) const { return *layer_ropes_[l]; }
  std::span<const kernels::RopeTable* const> layer_ropes() const { return layer_ropes_; }
  // Not thread-safe against a running forward: set before serving.
  Precision precision() const { return precision_; }
  void set_precision(Precision p) { precision_ = p; }

  // logits: (ubatch.n_out(), n_vocab), in row order. hooks: empty, or one per view (null = none), see seq_hook.h.
  // REQUIRES: kv geometry matches hparams; every row's slot is inside its view; a hooked sequence's rows are
  // contiguous. Rows dropped by hooks produce no logits (their out flag must be 0).
  Status forward(const UBatch& ub, std::span<const SeqKvView> views, kv::KvStorage& kv, std::vector<float>& logits,
                 ThreadPool* pool, std::span<SeqHook* const> hooks = {}) const;

 private:
  std::unique_ptr<gguf::GgufFile> file_;
  HParams hp_;
  Weights w_;
  Status check_rows(const UBatch& ub, std::span<const SeqKvView> views, const kv::KvStorage& kv,
                    std::span<SeqHook* const> hooks) const;

  std::vector<kernels::RopeTable> ropes_;              // one per spec.rope_bases entry
  std::vector<const kernels::RopeTable*> layer_ropes_;  // (n_layer) into ropes_
  Precision precision_ = Precision::kF32;
};

}  // namespace kvs::model
