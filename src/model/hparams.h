// Hyper-parameters of a decoder (Llama family, Gemma 3), read from GGUF metadata ("<arch>.*" keys).
// Invariants after from_gguf(): n_head % n_head_kv == 0; head_dim even; head_dim == n_embd / n_head unless the
// file gives attention.key_length (Gemma 3: 256 with n_embd 640, 4 heads), and then value_length == key_length;
// all sizes positive and bounded by what the file holds: n_layer <= (tensors named blk.*) / 9, and n_embd, n_ff,
// n_vocab no larger than the largest tensor extent (so nothing sized by them can exceed the file's own scale);
// rope_theta and rms_eps finite and positive (rms_eps <= 1); `spec` (arch.h) keeps its own invariants.
// Bad metadata is a Status, never an exception.
#pragma once
#include <cstdint>
#include <string>

#include "base/status.h"
#include "gguf/gguf_file.h"
#include "kernels/cpu/rope.h"
#include "model/arch.h"

namespace kvs::model {

struct HParams {
  std::string arch;      // general.architecture, e.g. "llama"
  std::string name;      // general.name
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  int64_t n_ctx_train = 0;
  double rope_theta = 10000.0;
  kernels::RopeType rope_type = kernels::RopeType::kNorm;
  float rms_eps = 1e-5f;
  ArchSpec spec;  // how the forward differs from Llama's (per-layer window and RoPE base, norms, activation)

  int64_t kv_dim() const { return n_head_kv * head_dim; }
  int64_t q_dim() const { return n_head * head_dim; }  // == n_embd for Llama; Gemma 3 270M: 1024 vs 640
  static Result<HParams> from_gguf(const gguf::GgufFile& f);
};

}  // namespace kvs::model
