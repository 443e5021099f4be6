// Weight map: GGUF tensor names -> typed views into the mapped file (no copies).
// Invariants after from_gguf(): every matrix has ne = {k, n} with the shapes the hparams imply and a dtype the
// kernels support and data aligned for it (F32: 4 bytes, others: 2); norms are F32 vectors of n_embd (the per-head
// q/k norms: head_dim), present exactly when hparams.spec asks for them. `output` is token_embd when the head is tied.
#pragma once
#include <cstdint>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "gguf/gguf_file.h"
#include "model/hparams.h"

namespace kvs::model {

struct Matrix {
  const void* data = nullptr;  // n rows of k elements, each row dtype_row_bytes(type, k) bytes
  DType type = DType::kF32;
  int64_t n = 0;  // rows (output features)
  int64_t k = 0;  // row length (input features)
  const uint8_t* row(int64_t i) const { return static_cast<const uint8_t*>(data) + i * dtype_row_bytes(type, k); }
};

struct LayerWeights {
  const float* attn_norm = nullptr;  // (n_embd)
  Matrix wq, wk, wv, wo;             // (n_embd -> q_dim), (n_embd -> kv_dim) x2, (q_dim -> n_embd)
  const float* q_norm = nullptr;     // (head_dim) spec.qk_norm only
  const float* k_norm = nullptr;     // (head_dim) spec.qk_norm only
  const float* post_attn_norm = nullptr;  // (n_embd) spec.post_norms only
  const float* ffn_norm = nullptr;   // (n_embd)
  const float* post_ffn_norm = nullptr;   // (n_embd) spec.post_norms only
  Matrix w_gate, w_up, w_down;       // (n_embd -> n_ff) x2, (n_ff -> n_embd)
  const float* bq = nullptr;         // optional biases (qwen2): (q_dim), (kv_dim), (kv_dim)
  const float* bk = nullptr;
  const float* bv = nullptr;
};

struct Weights {
  Matrix tok_embd;                   // (n_vocab rows of n_embd)
  const float* output_norm = nullptr;  // (n_embd)
  Matrix output;                     // (n_vocab rows of n_embd); == tok_embd when tied
  bool tied_output = false;
  std::vector<LayerWeights> layers;

  static Result<Weights> from_gguf(const gguf::GgufFile& f, const HParams& hp);
};

}  // namespace kvs::model
