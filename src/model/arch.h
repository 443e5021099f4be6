// The architecture description: how a decoder family's forward differs from Llama's, read once from GGUF metadata
// ("<arch>.*" keys) so the forward reads flags and per-layer numbers instead of testing the architecture's name.
// Invariants after from_gguf(): layers.size() == n_layer; every layer's rope index < rope_bases.size(); windows >= 0
// (0 = full causal attention); rope bases finite and positive; attn_scale finite and positive; embd_scale > 0.
// Llama / Mistral / Qwen2 / SmolLM: every flag off, one RoPE base, no window, scale 1/sqrt(head_dim): the forward
// is the plain Llama one.
// Gemma 3 (gemma3.*): embeddings scaled by sqrt(n_embd); Q and K RMS-normed per head (attn_q_norm / attn_k_norm,
// head_dim weights) before RoPE; the attention and FFN outputs RMS-normed (post_attention_norm / post_ffw_norm)
// before the residual add; GeGLU (gelu, tanh approximation) instead of SwiGLU; NeoX RoPE pairing; head_dim
// (key_length) independent of n_embd / n_head; interleaved local (sliding window, own RoPE base) and global layers:
// layer l is global when (l + 1) % pattern == 0 (pattern = attention.sliding_window_pattern, default 6 as in the
// model's reference config), local layers use attention.sliding_window and rope.freq_base_swa (default 10000: the
// reference config's rope_local_base_freq; the GGUF converter does not write it); the output head is tied.
// Norm weights: Gemma's RMSNorm multiplies by (1 + w); the GGUF converter stores 1 + w, so the forward multiplies by
// the stored tensor for every family (norm_weight_offset == 0; a file storing w itself is not what converters write).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "gguf/gguf_file.h"

namespace kvs::model {

enum class FfnActivation : uint8_t { kSilu, kGeluTanh };

struct LayerAttention {
  int64_t window = 0;  // 0: full causal; w > 0: a row at position p sees positions (p - w, p]
  int32_t rope = 0;    // index into ArchSpec::rope_bases
};

struct ArchSpec {
  float embd_scale = 1.0f;             // token embedding rows are multiplied by this
  bool qk_norm = false;                // per-head RMSNorm of q and k before RoPE
  bool post_norms = false;             // RMSNorm of the attention / FFN output before each residual add
  FfnActivation ffn_act = FfnActivation::kSilu;
  float attn_scale = 0.0f;             // softmax(q.k * attn_scale)
  std::vector<double> rope_bases;      // [0]: the global base (rope.freq_base); gemma3: [1] local base
  std::vector<LayerAttention> layers;  // (n_layer)

  bool any_window() const;
  // Reads the description of `arch` ("llama", "gemma3", ...). n_embd / head_dim / n_layer / rope_theta: the
  // already-validated hparams. Unknown architecture or bad values: a Status.
  static Result<ArchSpec> from_gguf(const gguf::GgufFile& f, const std::string& arch, int64_t n_embd,
                                    int64_t head_dim, int64_t n_layer, double rope_theta);
};

// True when the forward implements this general.architecture.
bool architecture_supported(const std::string& arch);
const char* supported_architectures();  // "llama, mistral, qwen2, smollm, gemma3"

}  // namespace kvs::model
