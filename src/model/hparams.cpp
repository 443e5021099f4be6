#include "model/hparams.h"

namespace kvs::model {

Result<HParams> HParams::from_gguf(const gguf::GgufFile& f) {
  HParams hp;
  auto arch = f.get_string("general.architecture");
  if (!arch.is_ok()) return arch.status();
  hp.arch = arch.value();
  // Llama-family decoders whose forward is ours: same blocks, differing only in metadata.
  if (hp.arch != "llama" && hp.arch != "mistral" && hp.arch != "qwen2" && hp.arch != "smollm")
    return unsupported("model architecture '" + hp.arch + "' is not supported (supported: llama, mistral, qwen2)");
  if (auto n = f.get_string("general.name"); n.is_ok()) hp.name = n.value();
  const std::string a = hp.arch + ".";
  auto need = [&](const std::string& key, int64_t& out) -> Status {
    auto v = f.get_int(a + key);
    if (!v.is_ok()) return v.status();
    if (v.value() <= 0 || v.value() > (int64_t{1} << 31)) return corrupt(a + key + " = " + std::to_string(v.value()) + " is out of range");
    out = v.value();
    return Status::ok();
  };
  KVS_RETURN_IF_ERROR(need("embedding_length", hp.n_embd));
  KVS_RETURN_IF_ERROR(need("block_count", hp.n_layer));
  KVS_RETURN_IF_ERROR(need("attention.head_count", hp.n_head));
  KVS_RETURN_IF_ERROR(need("feed_forward_length", hp.n_ff));
  KVS_RETURN_IF_ERROR(need("context_length", hp.n_ctx_train));
  hp.n_head_kv = hp.n_head;
  if (f.find(a + "attention.head_count_kv")) KVS_RETURN_IF_ERROR(need("attention.head_count_kv", hp.n_head_kv));
  if (hp.n_embd % hp.n_head != 0) return corrupt("embedding_length is not a multiple of head_count");
  hp.head_dim = hp.n_embd / hp.n_head;
  if (f.find(a + "attention.key_length")) KVS_RETURN_IF_ERROR(need("attention.key_length", hp.head_dim));
  if (hp.head_dim * hp.n_head != hp.n_embd) return unsupported("head_dim * n_head != n_embd");
  if (hp.head_dim % 2 != 0) return corrupt("head dimension must be even for RoPE");
  if (hp.n_head % hp.n_head_kv != 0) return corrupt("head_count is not a multiple of head_count_kv");
  if (auto rd = f.get_int(a + "rope.dimension_count"); rd.is_ok() && rd.value() != hp.head_dim)
    return unsupported("partial rotary embeddings (rope.dimension_count != head_dim) are not supported");
  if (auto t = f.get_float(a + "rope.freq_base"); t.is_ok()) hp.rope_theta = t.value();
  if (hp.rope_theta <= 0) return corrupt("rope.freq_base must be positive");
  if (f.find(a + "rope.scaling.type")) {
    auto st = f.get_string(a + "rope.scaling.type");
    if (st.is_ok() && st.value() != "none") return unsupported("rope scaling '" + st.value() + "' is not supported");
  }
  auto eps = f.get_float(a + "attention.layer_norm_rms_epsilon");
  if (!eps.is_ok()) return eps.status();
  hp.rms_eps = static_cast<float>(eps.value());
  // llama/mistral GGUF files store Q/K permuted for interleaved pairs; qwen2 uses NeoX pairing.
  hp.rope_type = hp.arch == "qwen2" ? kernels::RopeType::kNeox : kernels::RopeType::kNorm;
  auto toks = f.find("tokenizer.ggml.tokens");
  if (auto nv = f.get_int(a + "vocab_size"); nv.is_ok()) hp.n_vocab = nv.value();
  else if (toks) hp.n_vocab = static_cast<int64_t>(toks->arr.size());
  if (hp.n_vocab <= 0) return corrupt("vocabulary size unknown");
  return hp;
}

}  // namespace kvs::model
