// HParams::from_gguf: every size is checked against bounds the file itself implies before anything is sized by it
// (see hparams.h), so a corrupt or hostile header gives a Status, never bad_alloc or a NaN forward.
#include "model/hparams.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kvs::model {
namespace {

constexpr int64_t kTensorsPerLayer = 9;  // attn_norm, q, k, v, output, ffn_norm, gate, up, down (biases optional)

// What the file holds, for bounding the metadata: a layer needs its tensors, and every model dimension is the
// extent of some tensor (n_embd of the embedding, n_ff of the FFN, n_vocab of the embedding's rows).
struct FileBounds {
  int64_t n_layer_tensors = 0;  // tensors named "blk.*"
  int64_t max_extent = 0;       // largest ne[d] of any tensor
};

FileBounds file_bounds(const gguf::GgufFile& f) {
  FileBounds b;
  for (const gguf::TensorInfo& t : f.tensors()) {
    if (t.name.rfind("blk.", 0) == 0) ++b.n_layer_tensors;
    for (int64_t e : t.ne) b.max_extent = std::max(b.max_extent, e);
  }
  return b;
}

Status check_positive_finite(const std::string& key, double v, double hi) {
  if (!std::isfinite(v) || !(v > 0) || !(v <= hi))
    return corrupt(key + " = " + std::to_string(v) + " is not a finite number in (0, " + std::to_string(hi) + "]");
  return Status::ok();
}

}  // namespace

Result<HParams> HParams::from_gguf(const gguf::GgufFile& f) {
  HParams hp;
  auto arch = f.get_string("general.architecture");
  if (!arch.is_ok()) return arch.status();
  hp.arch = arch.value();
  if (!architecture_supported(hp.arch))
    return unsupported("model architecture '" + hp.arch + "' is not supported (supported: " +
                       supported_architectures() + ")");
  if (auto n = f.get_string("general.name"); n.is_ok()) hp.name = n.value();
  const std::string a = hp.arch + ".";
  const FileBounds fb = file_bounds(f);
  // A dimension is positive and no larger than the largest tensor extent in the file (it sizes some tensor).
  auto need = [&](const std::string& key, int64_t& out, int64_t hi) -> Status {
    auto v = f.get_int(a + key);
    if (!v.is_ok()) return v.status();
    if (v.value() <= 0 || v.value() > hi)
      return corrupt(a + key + " = " + std::to_string(v.value()) + " is out of range [1, " + std::to_string(hi) + "]");
    out = v.value();
    return Status::ok();
  };
  const int64_t dim_hi = std::max<int64_t>(1, fb.max_extent);
  KVS_RETURN_IF_ERROR(need("embedding_length", hp.n_embd, dim_hi));
  if (fb.n_layer_tensors < kTensorsPerLayer)
    return corrupt("the file holds " + std::to_string(fb.n_layer_tensors) + " layer tensors (blk.*): not one layer");
  // Each layer needs its own tensors: block_count is bounded by what the file holds, before anything is sized by it.
  KVS_RETURN_IF_ERROR(need("block_count", hp.n_layer, fb.n_layer_tensors / kTensorsPerLayer));
  KVS_RETURN_IF_ERROR(need("attention.head_count", hp.n_head, hp.n_embd));
  KVS_RETURN_IF_ERROR(need("feed_forward_length", hp.n_ff, dim_hi));
  KVS_RETURN_IF_ERROR(need("context_length", hp.n_ctx_train, int64_t{1} << 31));
  hp.n_head_kv = hp.n_head;
  if (f.find(a + "attention.head_count_kv")) KVS_RETURN_IF_ERROR(need("attention.head_count_kv", hp.n_head_kv, hp.n_head));
  if (hp.n_embd % hp.n_head != 0) return corrupt("embedding_length is not a multiple of head_count");
  hp.head_dim = hp.n_embd / hp.n_head;
  if (f.find(a + "attention.key_length")) {
    KVS_RETURN_IF_ERROR(need("attention.key_length", hp.head_dim, dim_hi));
    int64_t vlen = hp.head_dim;
    if (f.find(a + "attention.value_length")) KVS_RETURN_IF_ERROR(need("attention.value_length", vlen, dim_hi));
    if (vlen != hp.head_dim) return unsupported("attention.value_length != attention.key_length");
    if (hp.q_dim() > dim_hi) return corrupt("head_count * key_length is larger than every tensor");
  } else if (hp.head_dim * hp.n_head != hp.n_embd) {
    return unsupported("head_dim * n_head != n_embd");
  }
  if (hp.head_dim % 2 != 0) return corrupt("head dimension must be even for RoPE");
  if (hp.n_head % hp.n_head_kv != 0) return corrupt("head_count is not a multiple of head_count_kv");
  if (auto rd = f.get_int(a + "rope.dimension_count"); rd.is_ok() && rd.value() != hp.head_dim)
    return unsupported("partial rotary embeddings (rope.dimension_count != head_dim) are not supported");
  if (f.find(a + "rope.freq_base")) {
    auto t = f.get_float(a + "rope.freq_base");
    if (!t.is_ok()) return t.status();
    hp.rope_theta = t.value();
  }
  KVS_RETURN_IF_ERROR(check_positive_finite(a + "rope.freq_base", hp.rope_theta, 1e12));
  if (f.find(a + "rope.scaling.type")) {
    auto st = f.get_string(a + "rope.scaling.type");
    if (st.is_ok() && st.value() != "none") return unsupported("rope scaling '" + st.value() + "' is not supported");
  }
  auto eps = f.get_float(a + "attention.layer_norm_rms_epsilon");
  if (!eps.is_ok()) return eps.status();
  // As a float (what the forward uses): a tiny double must not round to 0.
  KVS_RETURN_IF_ERROR(check_positive_finite(a + "attention.layer_norm_rms_epsilon",
                                            static_cast<double>(static_cast<float>(eps.value())), 1.0));
  hp.rms_eps = static_cast<float>(eps.value());
  // llama/mistral GGUF files store Q/K permuted for interleaved pairs; qwen2 uses NeoX pairing.
  // gemma3 files keep Hugging Face's half-split pairing too.
  hp.rope_type = hp.arch == "qwen2" || hp.arch == "gemma3" ? kernels::RopeType::kNeox : kernels::RopeType::kNorm;
  auto spec = ArchSpec::from_gguf(f, hp.arch, hp.n_embd, hp.head_dim, hp.n_layer, hp.rope_theta);
  if (!spec.is_ok()) return spec.status();
  hp.spec = std::move(spec).value();
  auto toks = f.find("tokenizer.ggml.tokens");
  if (f.find(a + "vocab_size")) KVS_RETURN_IF_ERROR(need("vocab_size", hp.n_vocab, dim_hi));
  else if (toks) hp.n_vocab = static_cast<int64_t>(toks->arr.size());
  if (hp.n_vocab <= 0 || hp.n_vocab > dim_hi)
    return corrupt("vocabulary size " + std::to_string(hp.n_vocab) + " is unknown or larger than every tensor");
  return hp;
}

}  // namespace kvs::model
