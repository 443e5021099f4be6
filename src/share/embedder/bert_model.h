// BertModel: a BERT-family encoder (post-LN, absolute positions, bidirectional attention) loaded from GGUF,
// and its forward pass over a packed batch of sequences.
//
// forward, per sequence of T tokens (token type 0, positions 0..T-1):
//   h = LN_emb(word[id] + pos[p] + type[0])                                            (T, D)
//   each layer:  a = LN_attn(h + Wo·MHA(h) + bo)   MHA: q,k,v = W·h + b, softmax(q·kᵀ/√hd)·v per head, no mask
//                h = LN_out(a + W2·gelu(W1·a + b1) + b2)                     gelu(x) = x/2·(1 + erf(x/√2))
// Sequences of one batch are packed row after row; attention never crosses a sequence boundary, so a batch
// gives each sequence exactly what it would get alone.
//
// GGUF contract (scripts/convert_embedder.py writes it; names as llama.cpp's BERT):
//   general.architecture = "bert"
//   bert.context_length (positions), bert.embedding_length (D), bert.block_count (L),
//   bert.feed_forward_length (F), bert.attention.head_count (H; D % H == 0),
//   bert.attention.layer_norm_epsilon, bert.attention.causal (absent or false),
//   bert.pooling_type (1 mean, 2 cls), kvshare.embedder.normalize (bool, default true),
//   kvshare.embedder.max_seq_length (default = context_length)
//   token_embd.weight ne={D, V}   position_embd.weight ne={D, P}   token_types.weight ne={D, n_types}
//   token_embd_norm.{weight,bias} ne={D}
//   blk.i.attn_{q,k,v,output}.weight ne={D, D} (+ .bias ne={D})   blk.i.attn_output_norm.{weight,bias}
//   blk.i.ffn_up.weight ne={D, F} (+ .bias ne={F})   blk.i.ffn_down.weight ne={F, D} (+ .bias ne={D})
//   blk.i.layer_output_norm.{weight,bias}
// A Linear weight is a torch [out, in] matrix: out rows of `in` elements (ggml ne = {in, out}).
//
// Invariants after load(): every tensor has the shape above; matrices have a dtype kernels::matmul supports
// (with k % block size == 0), embedding tables a dtype dequantize_row supports, norms and biases are F32.
// Views point into the GgufFile's mapping: the file must outlive the model. The model is immutable.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "kernels/cpu/attention.h"

namespace kvs::gguf { class GgufFile; }

namespace kvs::share {

enum class Pooling : int32_t { kMean = 1, kCls = 2 };  // llama.cpp's numbering

struct BertHParams {
  int32_t n_vocab = 0;
  int32_t n_pos = 0;          // max positions
  int32_t n_token_types = 0;
  int32_t n_embd = 0;         // D
  int32_t n_layer = 0;        // L
  int32_t n_head = 0;         // H
  int32_t n_ff = 0;           // F
  float ln_eps = 1e-12f;
  Pooling pooling = Pooling::kMean;
  bool normalize = true;
  int32_t max_seq_len = 0;    // truncation length, [CLS] and [SEP] included; <= n_pos
  int32_t head_dim() const { return n_embd / n_head; }
};

struct BertMatrix {
  const void* data = nullptr;  // n rows of k elements in `type`
  DType type = DType::kF32;
  int64_t n = 0;  // rows (output features)
  int64_t k = 0;  // row length (input features)
};

struct BertLinear {
  BertMatrix w;               // (out, in)
  const float* b = nullptr;   // (out)
};

struct BertNorm {
  const float* w = nullptr;  // (D)
  const float* b = nullptr;  // (D)
};

struct BertLayer {
  BertLinear q, k, v, o;      // (D, D) each
  BertNorm attn_norm;         // after the attention residual
  BertLinear up, down;        // (F, D), (D, F)
  BertNorm out_norm;          // after the FFN residual
};

// Reusable activations of one forward (grown on demand; one per concurrent caller).
struct BertScratch {
  std::vector<float> x;       // (rows, D)   hidden state
  std::vector<float> q, k, v; // (rows, D)
  std::vector<float> ctx;     // (rows, D)   attention output before Wo
  std::vector<float> tmp;     // (rows, D)   projection output
  std::vector<float> ff;      // (rows, F)
  std::vector<float> kb, vb;   // (n_blocks, H, 16, hd) K and V of every sequence in 16-slot blocks (attention)
  std::vector<int32_t> blocks; // (n_blocks) identity block table: sequence i's blocks follow sequence i - 1's
  std::vector<int32_t> pos;    // (rows) each row's sequence's last position: every key is visible
  std::vector<kernels::AttnSeq> seqs;  // (n_seqs) one per sequence
};

class BertModel {
 public:
  // REQUIRES: `file` outlives the returned model.
  static Result<std::unique_ptr<BertModel>> load(const gguf::GgufFile& file);

  const BertHParams& hparams() const { return hp_; }

  // ids: the token ids of all sequences, packed; seq_lens: tokens per sequence (each in [1, n_pos]).
  // hidden (sum(seq_lens), D): the last layer's output rows, in ids order.
  // REQUIRES: every id < n_vocab; called from `pool`'s owner thread (or pool == nullptr).
  void forward(std::span<const int32_t> ids, std::span<const int32_t> seq_lens, BertScratch& s,
               ThreadPool* pool, std::vector<float>& hidden) const;

 private:
  BertModel() = default;
  void embed_rows(std::span<const int32_t> ids, std::span<const int32_t> seq_lens, float* x) const;
  void attention(std::span<const int32_t> seq_lens, BertScratch& s, ThreadPool* pool) const;

  BertHParams hp_;
  BertMatrix tok_embd_, pos_embd_, type_embd_;  // (V, D), (P, D), (n_types, D)
  BertNorm emb_norm_;
  std::vector<BertLayer> layers_;
};

// Helpers of the forward, exposed for tests.
// out (n) = (x - mean) / sqrt(var + eps) * w + b   (out may alias x)
void layer_norm(float* out, const float* x, const float* w, const float* b, int64_t n, float eps);
// In place: x (n) = x/2·(1 + erf(x/√2)), erf by a rational approximation (|error| < 5e-7).
void gelu_erf(float* x, int64_t n);

}  // namespace kvs::share
