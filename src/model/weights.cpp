#include "model/weights.h"

#include <string>

#include "kernels/cpu/ops.h"

namespace kvs::model {
namespace {

std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

Status get_matrix(const gguf::GgufFile& f, const std::string& name, int64_t k, int64_t n, Matrix* out) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (!t) return not_found("tensor '" + name + "' is missing");
  if (t->ne.size() != 2 || t->ne[0] != k || t->ne[1] != n)
    return corrupt("tensor '" + name + "' has shape " + shape_str(t->ne) + ", expected {" + std::to_string(k) +
                   ", " + std::to_string(n) + "}");
  if (!kernels::supports_weight_type(t->type))
    return unsupported(std::string("tensor '") + name + "' has type " + dtype_name(t->type) +
                       ", which the CPU kernels do not support");
  // The kernels read F32 rows as floats and every other supported type as 16-bit fields (halves, block scales).
  const uintptr_t need_align = t->type == DType::kF32 ? alignof(float) : alignof(uint16_t);
  if (reinterpret_cast<uintptr_t>(t->data) % need_align != 0)
    return corrupt("tensor '" + name + "' data is not " + std::to_string(need_align) + "-byte aligned");
  *out = Matrix{t->data, t->type, n, k};
  return Status::ok();
}

Status get_vector(const gguf::GgufFile& f, const std::string& name, int64_t n, const float** out, bool optional = false) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (!t) {
    if (optional) return Status::ok();
    return not_found("tensor '" + name + "' is missing");
  }
  if (t->type != DType::kF32) return unsupported("tensor '" + name + "' must be F32, is " + dtype_name(t->type));
  if (t->n_elements() != n) return corrupt("tensor '" + name + "' has " + std::to_string(t->n_elements()) +
                                           " elements, expected " + std::to_string(n));
  if (reinterpret_cast<uintptr_t>(t->data) % alignof(float) != 0) return corrupt("tensor '" + name + "' is misaligned");
  *out = reinterpret_cast<const float*>(t->data);
  return Status::ok();
}

}  // namespace

Result<Weights> Weights::from_gguf(const gguf::GgufFile& f, const HParams& hp) {
  Weights w;
  const int64_t d = hp.n_embd, kv = hp.kv_dim(), qd = hp.q_dim();
  KVS_RETURN_IF_ERROR(get_matrix(f, "token_embd.weight", d, hp.n_vocab, &w.tok_embd));
  KVS_RETURN_IF_ERROR(get_vector(f, "output_norm.weight", d, &w.output_norm));
  if (f.find_tensor("output.weight")) {
    KVS_RETURN_IF_ERROR(get_matrix(f, "output.weight", d, hp.n_vocab, &w.output));
  } else {
    w.output = w.tok_embd;
    w.tied_output = true;
  }
  w.layers.resize(hp.n_layer);
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& L = w.layers[l];
    KVS_RETURN_IF_ERROR(get_vector(f, p + "attn_norm.weight", d, &L.attn_norm));
    KVS_RETURN_IF_ERROR(get_matrix(f, p + "attn_q.weight", d, qd, &L.wq));
    KVS_RETURN_IF_ERROR(get_matrix(f, p + "attn_k.weight", d, kv, &L.wk));
    KVS_RETURN_IF_ERROR(get_matrix(f, p + "attn_v.weight", d, kv, &L.wv));
    KVS_RETURN_IF_ERROR(get_matrix(f, p + "attn_output.weight", qd, d, &L.wo));
    if (hp.spec.qk_norm) {
      KVS_RETURN_IF_ERROR(get_vector(f, p + "attn_q_norm.weight", hp.head_dim, &L.q_norm));
      KVS_RETURN_IF_ERROR(get_vector(f, p + "attn_k_norm.weight", hp.head_dim, &L.k_norm));
    }
    if (hp.spec.post_norms) {
      KVS_RETURN_IF_ERROR(get_vector(f, p + "post_attention_norm.weight", d, &L.post_attn_norm));
      KVS_RETURN_IF_ERROR(get_vector(f, p + "post_ffw_norm.weight", d, &L.post_ffn_norm));
    }
    KVS_RETURN_IF_ERROR(get_vector(f, p + "ffn_norm.weight", d, &L.ffn_norm));
    KVS_RETURN_IF_ERROR(get_matrix(f, p + "ffn_gate.weight", d, hp.n_ff, &L.w_gate));
    KVS_RETURN_IF_ERROR(get_matrix(f, p + "ffn_up.weight", d, hp.n_ff, &L.w_up));
    KVS_RETURN_IF_ERROR(get_matrix(f, p + "ffn_down.weight", hp.n_ff, d, &L.w_down));
    KVS_RETURN_IF_ERROR(get_vector(f, p + "attn_q.bias", qd, &L.bq, /*optional=*/true));
    KVS_RETURN_IF_ERROR(get_vector(f, p + "attn_k.bias", kv, &L.bk, true));
    KVS_RETURN_IF_ERROR(get_vector(f, p + "attn_v.bias", kv, &L.bv, true));
  }
  return w;
}

}  // namespace kvs::model
