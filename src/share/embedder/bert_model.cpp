#include "share/embedder/bert_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "gguf/gguf_file.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/ops.h"

namespace kvs::share {

namespace {

// ---- loading -------------------------------------------------------------------------------------------------

Result<int32_t> get_i32(const gguf::GgufFile& f, const std::string& key, int64_t lo, int64_t hi) {
  auto v = f.get_int(key);
  if (!v.is_ok()) return v.status();
  if (*v < lo || *v > hi) return corrupt(key + " = " + std::to_string(*v) + " is out of range");
  return static_cast<int32_t>(*v);
}

std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

// A weight matrix of n rows of k elements (ggml ne = {k, n}), in a type matmul and dequantize_row support.
Result<BertMatrix> get_matrix(const gguf::GgufFile& f, const std::string& name, int64_t k, int64_t n) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) return not_found("missing tensor " + name);
  if (t->ne.size() != 2 || t->ne[0] != k || t->ne[1] != n)
    return corrupt(name + " has shape " + shape_str(t->ne) + ", expected {" + std::to_string(k) + ", " +
                   std::to_string(n) + "}");
  if (!kernels::supports_weight_type(t->type))
    return unsupported(name + ": weight type " + dtype_name(t->type) + " is not supported");
  auto traits = dtype_traits(static_cast<uint32_t>(t->type));
  if (!traits || k % traits->block_size != 0)
    return corrupt(name + ": row length " + std::to_string(k) + " is not a multiple of the type's block size");
  return BertMatrix{t->data, t->type, n, k};
}

Result<const float*> get_vector(const gguf::GgufFile& f, const std::string& name, int64_t n) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) return not_found("missing tensor " + name);
  if (t->type != DType::kF32) return unsupported(name + " must be F32, is " + dtype_name(t->type));
  if (t->ne.empty() || t->ne[0] != n || t->n_elements() != n)
    return corrupt(name + " has shape " + shape_str(t->ne) + ", expected {" + std::to_string(n) + "}");
  return reinterpret_cast<const float*>(t->data);
}

#define KVS_EMB_ASSIGN(lhs, expr)      \
  do {                                       \
    auto _r = (expr);                        \
    if (!_r.is_ok()) return _r.status();     \
    lhs = std::move(_r).value();             \
  } while (0)

Status get_linear(const gguf::GgufFile& f, const std::string& name, int64_t in, int64_t out, BertLinear& l) {
  KVS_EMB_ASSIGN(l.w, get_matrix(f, name + ".weight", in, out));
  KVS_EMB_ASSIGN(l.b, get_vector(f, name + ".bias", out));
  return Status::ok();
}

Status get_norm(const gguf::GgufFile& f, const std::string& name, int64_t n, BertNorm& norm) {
  KVS_EMB_ASSIGN(norm.w, get_vector(f, name + ".weight", n));
  KVS_EMB_ASSIGN(norm.b, get_vector(f, name + ".bias", n));
  return Status::ok();
}

// ---- forward pieces -----------------------------------------------------------------------------------------

// y (m, out) += b
void add_bias(const BertLinear& l, int64_t m, float* y) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < l.w.n; ++j) y[r * l.w.n + j] += l.b[j];
}

// y (m, out) = x (m, in) · Wᵀ + b
void linear(const BertLinear& l, const float* x, int64_t m, float* y, ThreadPool* pool) {
  kernels::MatmulOptions opt;
  opt.int8_activations = false;  // exact float path (F32/F16 weights take it anyway)
  kernels::matmul(l.w.data, l.w.type, l.w.n, l.w.k, x, m, y, l.w.n, pool, opt);
  add_bias(l, m, y);
}

// q, k, v (m, D) = x · W{q,k,v}ᵀ + b: one matmul call for the three (one hand-out of work, not three).
void qkv(const BertLayer& l, const float* x, int64_t m, BertScratch& s, ThreadPool* pool) {
  kernels::MatmulOptions opt;
  opt.int8_activations = false;
  const kernels::MatmulOut outs[3] = {{l.q.w.data, l.q.w.type, l.q.w.n, s.q.data(), l.q.w.n},
                                      {l.k.w.data, l.k.w.type, l.k.w.n, s.k.data(), l.k.w.n},
                                      {l.v.w.data, l.v.w.type, l.v.w.n, s.v.data(), l.v.w.n}};
  kernels::matmul_many(outs, l.q.w.k, x, m, pool, opt);
  add_bias(l.q, m, s.q.data());
  add_bias(l.k, m, s.k.data());
  add_bias(l.v, m, s.v.data());
}

// x (m, D) = LN(x + r)
void add_norm(float* x, const float* r, int64_t m, int64_t d, const BertNorm& norm, float eps) {
  for (int64_t i = 0; i < m; ++i) {
    float* xi = x + i * d;
    const float* ri = r + i * d;
    for (int64_t j = 0; j < d; ++j) xi[j] += ri[j];
    layer_norm(xi, xi, norm.w, norm.b, d, eps);
  }
}

// Sum of x (n) with 8 independent partial sums (vectorisable without reassociation flags).
float sum8(const float* x, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += x[i + j];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += x[i];
  return s;
}

}  // namespace

void layer_norm(float* out, const float* x, const float* w, const float* b, int64_t n, float eps) {
  const float mean = sum8(x, n) / static_cast<float>(n);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const float c = x[i + j] - mean;
      acc[j] += c * c;
    }
  float var = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<float>(n);
  const float inv = 1.0f / std::sqrt(var + eps);
  for (int64_t j = 0; j < n; ++j) out[j] = (x[j] - mean) * inv * w[j] + b[j];
}

// erf(z) ~= z·P(z²)/Q(z²) on |z| <= 4 (erf(4) = 1 - 1.5e-8), clamped beyond. P and Q were fitted for this file
// (weighted least squares, Sanathanan-Koerner iteration, on [0, 4]); evaluated in float the absolute error
// stays below 5e-7 everywhere. No libm call, so the loop vectorises.
void gelu_erf(float* x, int64_t n) {
  constexpr float p0 = 1.1283790577450006f, p1 = 0.19209520046968168f, p2 = 0.052953805045273694f,
                  p3 = 0.0038355413610913036f, p4 = 0.00028597393713670604f, p5 = 2.0288650361558362e-06f;
  constexpr float q1 = 0.5035719297176586f, q2 = 0.1147916092295913f, q3 = 0.015106221475196243f,
                  q4 = 0.0011788125223598873f, q5 = 3.793362390854858e-05f;
  constexpr float kInvSqrt2 = 0.70710678118654752f;
  constexpr int64_t kChunk = 256;
  float z[kChunk];  // (kChunk) clamped x/√2; a separate pass, so that both loops vectorise
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t len = std::min(kChunk, n - i0);
    float* xs = x + i0;
    for (int64_t i = 0; i < len; ++i) {
      const float t = xs[i] * kInvSqrt2;
      z[i] = t < -4.0f ? -4.0f : (t > 4.0f ? 4.0f : t);
    }
    for (int64_t i = 0; i < len; ++i) {
      const float u = z[i] * z[i];
      const float p = p0 + u * (p1 + u * (p2 + u * (p3 + u * (p4 + u * p5))));
      const float q = 1.0f + u * (q1 + u * (q2 + u * (q3 + u * (q4 + u * q5))));
      xs[i] = 0.5f * xs[i] * (1.0f + z[i] * p / q);
    }
  }
}

Result<std::unique_ptr<BertModel>> BertModel::load(const gguf::GgufFile& f) {
  auto arch = f.get_string("general.architecture");
  if (!arch.is_ok()) return arch.status();
  if (*arch != "bert") return unsupported("architecture '" + *arch + "' is not 'bert'");
  if (const gguf::Value* c = f.find("bert.attention.causal"); c != nullptr && c->u != 0)
    return unsupported("bert.attention.causal = true: only bidirectional encoders are supported");

  std::unique_ptr<BertModel> m(new BertModel());
  BertHParams& hp = m->hp_;
  constexpr int64_t kMaxDim = 1 << 16;
  KVS_EMB_ASSIGN(hp.n_embd, get_i32(f, "bert.embedding_length", 1, kMaxDim));
  KVS_EMB_ASSIGN(hp.n_layer, get_i32(f, "bert.block_count", 1, 1024));
  KVS_EMB_ASSIGN(hp.n_head, get_i32(f, "bert.attention.head_count", 1, hp.n_embd));
  KVS_EMB_ASSIGN(hp.n_ff, get_i32(f, "bert.feed_forward_length", 1, 16 * kMaxDim));
  KVS_EMB_ASSIGN(hp.n_pos, get_i32(f, "bert.context_length", 2, 1 << 20));
  if (hp.n_embd % hp.n_head != 0) return corrupt("embedding length is not a multiple of the head count");
  auto eps = f.get_float("bert.attention.layer_norm_epsilon");
  if (!eps.is_ok()) return eps.status();
  if (!(*eps > 0 && *eps < 1)) return corrupt("bert.attention.layer_norm_epsilon out of range");
  hp.ln_eps = static_cast<float>(*eps);
  int32_t pooling = 0;
  KVS_EMB_ASSIGN(pooling, get_i32(f, "bert.pooling_type", 0, 1 << 20));
  if (pooling != static_cast<int32_t>(Pooling::kMean) && pooling != static_cast<int32_t>(Pooling::kCls))
    return unsupported("bert.pooling_type " + std::to_string(pooling) + " (supported: 1 mean, 2 cls)");
  hp.pooling = static_cast<Pooling>(pooling);
  hp.normalize = true;
  if (f.find("kvshare.embedder.normalize") != nullptr) KVS_EMB_ASSIGN(hp.normalize, f.get_bool("kvshare.embedder.normalize"));
  hp.max_seq_len = hp.n_pos;
  if (f.find("kvshare.embedder.max_seq_length") != nullptr)
    KVS_EMB_ASSIGN(hp.max_seq_len, get_i32(f, "kvshare.embedder.max_seq_length", 2, hp.n_pos));

  const int64_t D = hp.n_embd, F = hp.n_ff;
  const gguf::TensorInfo* te = f.find_tensor("token_embd.weight");
  if (te == nullptr || te->ne.size() != 2) return not_found("missing or malformed tensor token_embd.weight");
  if (te->ne[1] < 1 || te->ne[1] > INT32_MAX) return corrupt("token_embd.weight: bad vocabulary size");
  hp.n_vocab = static_cast<int32_t>(te->ne[1]);
  const gguf::TensorInfo* tt = f.find_tensor("token_types.weight");
  if (tt == nullptr || tt->ne.size() != 2 || tt->ne[1] < 1 || tt->ne[1] > 64)
    return not_found("missing or malformed tensor token_types.weight");
  hp.n_token_types = static_cast<int32_t>(tt->ne[1]);

  KVS_EMB_ASSIGN(m->tok_embd_, get_matrix(f, "token_embd.weight", D, hp.n_vocab));
  KVS_EMB_ASSIGN(m->pos_embd_, get_matrix(f, "position_embd.weight", D, hp.n_pos));
  KVS_EMB_ASSIGN(m->type_embd_, get_matrix(f, "token_types.weight", D, hp.n_token_types));
  KVS_RETURN_IF_ERROR(get_norm(f, "token_embd_norm", D, m->emb_norm_));
  m->layers_.resize(static_cast<size_t>(hp.n_layer));
  for (int32_t i = 0; i < hp.n_layer; ++i) {
    BertLayer& l = m->layers_[static_cast<size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    KVS_RETURN_IF_ERROR(get_linear(f, p + "attn_q", D, D, l.q));
    KVS_RETURN_IF_ERROR(get_linear(f, p + "attn_k", D, D, l.k));
    KVS_RETURN_IF_ERROR(get_linear(f, p + "attn_v", D, D, l.v));
    KVS_RETURN_IF_ERROR(get_linear(f, p + "attn_output", D, D, l.o));
    KVS_RETURN_IF_ERROR(get_norm(f, p + "attn_output_norm", D, l.attn_norm));
    KVS_RETURN_IF_ERROR(get_linear(f, p + "ffn_up", D, F, l.up));
    KVS_RETURN_IF_ERROR(get_linear(f, p + "ffn_down", F, D, l.down));
    KVS_RETURN_IF_ERROR(get_norm(f, p + "layer_output_norm", D, l.out_norm));
  }
  return m;
}

#undef KVS_EMB_ASSIGN

void BertModel::embed_rows(std::span<const int32_t> ids, std::span<const int32_t> seq_lens, float* x) const {
  const int64_t D = hp_.n_embd;
  std::vector<float> tmp(static_cast<size_t>(D));  // (D) one dequantised row
  auto add_row = [&](const BertMatrix& t, int64_t row, float* dst) {
    const auto* src = static_cast<const uint8_t*>(t.data) + row * dtype_row_bytes(t.type, D);
    if (t.type == DType::kF32) {
      const auto* s = reinterpret_cast<const float*>(src);
      for (int64_t j = 0; j < D; ++j) dst[j] += s[j];
    } else {
      kernels::dequantize_row(t.type, src, tmp.data(), D);
      for (int64_t j = 0; j < D; ++j) dst[j] += tmp[static_cast<size_t>(j)];
    }
  };
  size_t r = 0;
  for (int32_t len : seq_lens) {
    for (int32_t p = 0; p < len; ++p, ++r) {
      float* xr = x + static_cast<int64_t>(r) * D;
      std::memset(xr, 0, static_cast<size_t>(D) * sizeof(float));
      KVS_CHECK(ids[r] >= 0 && ids[r] < hp_.n_vocab);
      add_row(tok_embd_, ids[r], xr);
      add_row(pos_embd_, p, xr);
      add_row(type_embd_, 0, xr);
      layer_norm(xr, xr, emb_norm_.w, emb_norm_.b, D, hp_.ln_eps);
    }
  }
}

// ctx (rows, D): per sequence and head, softmax(q·kᵀ/√hd)·v over the sequence's own rows, by the engine's tiled
// attention kernel (kernels/cpu/attention.h: vectorised per ISA, tested against its double-precision reference).
// K and V are copied into 16-slot blocks, each sequence's blocks in a row, and every query row of a sequence is
// given the sequence's last position, so it attends to all T keys: no mask, bidirectional. Attention never
// crosses a sequence, and a row's result depends only on its own sequence (the kernel's invariant).
void BertModel::attention(std::span<const int32_t> seq_lens, BertScratch& s, ThreadPool* pool) const {
  const int64_t D = hp_.n_embd, H = hp_.n_head, hd = hp_.head_dim();
  constexpr int64_t kBlock = 16;
  int64_t n_blocks = 0, rows = 0;
  for (int32_t len : seq_lens) {
    n_blocks += (len + kBlock - 1) / kBlock;
    rows += len;
  }
  const int64_t head_stride = kBlock * hd, block_stride = H * head_stride;
  s.kb.resize(static_cast<size_t>(n_blocks * block_stride));
  s.vb.resize(static_cast<size_t>(n_blocks * block_stride));
  s.blocks.resize(static_cast<size_t>(n_blocks));
  s.pos.resize(static_cast<size_t>(rows));
  s.seqs.clear();
  int64_t r0 = 0, b0 = 0;
  for (int32_t len : seq_lens) {
    for (int64_t j = 0; j < len; ++j) {
      const int64_t r = r0 + j;
      const int64_t dst = (b0 + j / kBlock) * block_stride + (j % kBlock) * hd;
      for (int64_t h = 0; h < H; ++h) {
        std::memcpy(s.kb.data() + dst + h * head_stride, s.k.data() + r * D + h * hd, sizeof(float) * hd);
        std::memcpy(s.vb.data() + dst + h * head_stride, s.v.data() + r * D + h * hd, sizeof(float) * hd);
      }
      s.pos[static_cast<size_t>(r)] = len - 1;
    }
    const int64_t nb = (len + kBlock - 1) / kBlock;
    for (int64_t b = 0; b < nb; ++b) s.blocks[static_cast<size_t>(b0 + b)] = static_cast<int32_t>(b0 + b);
    s.seqs.push_back(kernels::AttnSeq{std::span<const int32_t>(s.blocks.data() + b0, static_cast<size_t>(nb)), r0, len});
    r0 += len;
    b0 += nb;
  }
  kernels::AttnArgs a;
  a.n_head = a.n_head_kv = H;
  a.head_dim = hd;
  a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  a.q = s.q.data();
  a.ldq = D;
  a.pos = s.pos.data();
  a.out = s.ctx.data();
  a.ldo = D;
  kernels::PagedKv kv;
  kv.dtype = DType::kF32;
  kv.k = s.kb.data();
  kv.v = s.vb.data();
  kv.block_stride = block_stride;
  kv.head_stride = head_stride;
  kv.block_size = kBlock;
  kernels::attention_paged(a, kv, s.seqs, pool);
}

void BertModel::forward(std::span<const int32_t> ids, std::span<const int32_t> seq_lens, BertScratch& s,
                        ThreadPool* pool, std::vector<float>& hidden) const {
  const int64_t D = hp_.n_embd, F = hp_.n_ff;
  const int64_t rows = static_cast<int64_t>(ids.size());
  int64_t total = 0;
  for (int32_t len : seq_lens) {
    KVS_CHECK(len >= 1 && len <= hp_.n_pos);
    total += len;
  }
  KVS_CHECK(total == rows && rows > 0);
  for (auto* b : {&s.x, &s.q, &s.k, &s.v, &s.ctx, &s.tmp}) b->resize(static_cast<size_t>(rows * D));
  s.ff.resize(static_cast<size_t>(rows * F));

  embed_rows(ids, seq_lens, s.x.data());
  for (const BertLayer& l : layers_) {
    qkv(l, s.x.data(), rows, s, pool);
    attention(seq_lens, s, pool);
    linear(l.o, s.ctx.data(), rows, s.tmp.data(), pool);
    add_norm(s.x.data(), s.tmp.data(), rows, D, l.attn_norm, hp_.ln_eps);
    linear(l.up, s.x.data(), rows, s.ff.data(), pool);
    gelu_erf(s.ff.data(), rows * F);
    linear(l.down, s.ff.data(), rows, s.tmp.data(), pool);
    add_norm(s.x.data(), s.tmp.data(), rows, D, l.out_norm, hp_.ln_eps);
  }
  hidden.assign(s.x.begin(), s.x.begin() + rows * D);
}

}  // namespace kvs::share
