#include "model/model.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/ops.h"
#include "model/attention.h"

namespace kvs::model {

Result<std::unique_ptr<Model>> Model::load(const std::string& path) {
  auto f = gguf::GgufFile::open(path);
  if (!f.is_ok()) return f.status();
  auto m = std::unique_ptr<Model>(new Model());
  m->file_ = std::move(f).value();
  auto hp = HParams::from_gguf(*m->file_);
  if (!hp.is_ok()) return Status(hp.status().code(), path + ": " + hp.status().message());
  m->hp_ = hp.value();
  auto w = Weights::from_gguf(*m->file_, m->hp_);
  if (!w.is_ok()) return Status(w.status().code(), path + ": " + w.status().message());
  m->w_ = std::move(w).value();
  for (double base : m->hp_.spec.rope_bases)
    m->ropes_.push_back(kernels::make_rope_table(static_cast<int>(m->hp_.head_dim), base));
  for (const LayerAttention& la : m->hp_.spec.layers) m->layer_ropes_.push_back(&m->ropes_[la.rope]);
  // The mapped tensors never change: matmul may pack them once (kernels/cpu/ops.h).
  for (const auto& t : m->file_->tensors()) kernels::register_immutable_weights(t.data, t.n_bytes);
  return m;
}

Model::~Model() {
  if (file_)
    for (const auto& t : file_->tensors()) kernels::release_immutable_weights(t.data);
}

bool parse_precision(const std::string& s, Precision* out) {
  if (s == "int8") *out = Precision::kInt8;
  else if (s == "mixed") *out = Precision::kMixed;
  else if (s == "f32") *out = Precision::kF32;
  else return false;
  return true;
}

namespace {

void add_bias(float* x, const float* b, int64_t m, int64_t n) {
  if (!b) return;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) x[i * n + j] += b[j];
}

// Calls each hooked sequence's hook on its (contiguous) active rows; keep[i] = 0 for active row i dropped.
// Returns true when some row is dropped.
bool run_hooks(const UBatch& ub, std::span<const int32_t> rows, std::span<SeqHook* const> hooks, int layer,
               const float* q, const float* k, const float* v, int64_t qd, int64_t kvd, std::vector<uint8_t>& keep) {
  if (hooks.empty()) return false;  // keep is read only when a row was dropped
  keep.assign(rows.size(), 1);
  bool dropped = false;
  std::vector<uint8_t> seen(hooks.size(), 0);
  std::vector<int32_t> pos;
  for (size_t i = 0; i < rows.size();) {
    const int32_t s = ub.seq[rows[i]];
    size_t j = i;
    while (j < rows.size() && ub.seq[rows[j]] == s) ++j;
    if (SeqHook* h = hooks[s]) {
      KVS_CHECK_MSG(!seen[s], "a hooked sequence's rows must be contiguous in the ubatch");
      seen[s] = 1;
      pos.clear();
      for (size_t r = i; r < j; ++r) pos.push_back(ub.pos[rows[r]]);
      auto kept = h->on_layer_kv(layer, pos, q + i * qd, k + i * kvd, v + i * kvd);
      if (kept) {
        size_t ki = 0;
        for (size_t r = i; r < j; ++r) {
          const bool on = ki < kept->size() && (*kept)[ki] == pos[r - i];
          ki += on;
          keep[r] = on;
          dropped |= !on;
        }
        KVS_CHECK_MSG(ki == kept->size(), "a hook must return a subset of its rows' positions, in row order");
      }
    }
    i = j;
  }
  return dropped;
}

// Keeps the active rows with keep[i] = 1: compacts their residual stream, queries and RoPE angles.
void compact_rows(std::vector<int32_t>& rows, std::span<const uint8_t> keep, float* x, float* q, float* rcos,
                  float* rsin, int64_t d, int64_t qd, int64_t angles) {
  size_t w = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!keep[i]) continue;
    if (w != i) {
      std::memcpy(x + w * d, x + i * d, d * sizeof(float));
      std::memcpy(q + w * qd, q + i * qd, qd * sizeof(float));
      std::memcpy(rcos + w * angles, rcos + i * angles, angles * sizeof(float));
      std::memcpy(rsin + w * angles, rsin + i * angles, angles * sizeof(float));
    }
    rows[w++] = rows[i];
  }
  rows.resize(w);
}

// The forward's buffers, one set per calling thread, reused across calls.
struct ForwardScratch {
  std::vector<int32_t> rows;        // (n_active) active ubatch rows, in order
  std::vector<float> x, xn;         // (n_rows, n_embd) residual stream, normed input / block output
  std::vector<float> q, att;        // (n_rows, q_dim) queries, attention out
  std::vector<float> k, v;          // (n_rows, kv_dim)
  std::vector<float> gate, up;      // (n_rows, n_ff)
  std::vector<float> rcos, rsin;    // (n_rows, n_rope_bases, head_dim / 2) RoPE angles
  std::vector<uint8_t> keep;        // (n_active) 1 = row continues past this layer
};
ForwardScratch& forward_scratch(int64_t n_rows, int64_t d, int64_t qd, int64_t kvd, int64_t ff, int64_t angles) {
  thread_local ForwardScratch s;
  auto grow = [](std::vector<float>& b, int64_t n) {
    if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  };
  grow(s.x, n_rows * d);
  grow(s.xn, n_rows * std::max(d, qd));  // also the attention block's (q_dim -> n_embd) output
  grow(s.q, n_rows * qd);
  grow(s.att, n_rows * qd);
  grow(s.k, n_rows * kvd);
  grow(s.v, n_rows * kvd);
  grow(s.gate, n_rows * ff);
  grow(s.up, n_rows * ff);
  grow(s.rcos, n_rows * angles);
  grow(s.rsin, n_rows * angles);
  return s;
}

// x (m, d) = rmsnorm(x) * w in place, row by row (also per head: m = rows * heads, d = head_dim).
void rmsnorm_rows(float* x, const float* w, int64_t m, int64_t d, float eps) {
  for (int64_t i = 0; i < m; ++i) kernels::rmsnorm(x + i * d, x + i * d, w, d, eps);
}

// x (m, d) += y (m, d), after RMS-norming y by w when the architecture has post-norms (w != nullptr).
void add_residual(float* x, float* y, const float* w, int64_t m, int64_t d, float eps) {
  if (w) rmsnorm_rows(y, w, m, d, eps);
  for (int64_t i = 0; i < m * d; ++i) x[i] += y[i];
}

// The attention block's fresh rows: q (m, q_dim), k / v (m, kv_dim) from the normed input xn (m, n_embd), with the
// optional biases, the per-head QK-norm and the layer's RoPE (angles of table la.rope in rcos / rsin).
void project_qkv(const HParams& hp, const LayerWeights& L, const LayerAttention& la, int64_t m, const float* xn,
                 float* q, float* k, float* v, const float* rcos, const float* rsin, int64_t angles, ThreadPool* pool,
                 const kernels::MatmulOptions& opt) {
  const int64_t d = hp.n_embd, qd = hp.q_dim(), kvd = hp.kv_dim(), hd = hp.head_dim, half = hd / 2;
  const kernels::MatmulOut qkv[] = {{L.wq.data, L.wq.type, qd, q, qd},
                                    {L.wk.data, L.wk.type, kvd, k, kvd},
                                    {L.wv.data, L.wv.type, kvd, v, kvd}};
  kernels::matmul_many(qkv, d, xn, m, pool, opt);
  add_bias(q, L.bq, m, qd);
  add_bias(k, L.bk, m, kvd);
  add_bias(v, L.bv, m, kvd);
  if (L.q_norm) rmsnorm_rows(q, L.q_norm, m * hp.n_head, hd, hp.rms_eps);
  if (L.k_norm) rmsnorm_rows(k, L.k_norm, m * hp.n_head_kv, hd, hp.rms_eps);
  for (int64_t i = 0; i < m; ++i) {
    const float* c = rcos + i * angles + la.rope * half;
    const float* s = rsin + i * angles + la.rope * half;
    kernels::rope_apply(q + i * qd, static_cast<int>(hp.n_head), static_cast<int>(hd), c, s, hp.rope_type);
    kernels::rope_apply(k + i * kvd, static_cast<int>(hp.n_head_kv), static_cast<int>(hd), c, s, hp.rope_type);
  }
}

// The FFN block on m rows of the residual stream x (m, n_embd): x += [post-norm] down(act(gate(n(x))) * up(n(x))).
// xn (m, n_embd), gate / up (m, n_ff): scratch.
void ffn_block(const HParams& hp, const LayerWeights& L, int64_t m, float* x, float* xn, float* gate, float* up,
               ThreadPool* pool, const kernels::MatmulOptions& opt) {
  const int64_t d = hp.n_embd, ff = hp.n_ff;
  for (int64_t i = 0; i < m; ++i) kernels::rmsnorm(xn + i * d, x + i * d, L.ffn_norm, d, hp.rms_eps);
  const kernels::MatmulOut gu[] = {{L.w_gate.data, L.w_gate.type, ff, gate, ff}, {L.w_up.data, L.w_up.type, ff, up, ff}};
  kernels::matmul_many(gu, d, xn, m, pool, opt);
  if (hp.spec.ffn_act == FfnActivation::kGeluTanh) kernels::gelu_tanh_mul(gate, up, m * ff);
  else kernels::silu_mul(gate, up, m * ff);
  kernels::matmul(L.w_down.data, L.w_down.type, d, ff, gate, m, xn, d, pool, opt);
  add_residual(x, xn, L.post_ffn_norm, m, d, hp.rms_eps);
}

}  // namespace

Status Model::check_rows(const UBatch& ub, std::span<const SeqKvView> views, const kv::KvStorage& kv,
                         std::span<SeqHook* const> hooks) const {
  KVS_CHECK(kv.n_layer() == hp_.n_layer && kv.n_kv_head() == hp_.n_head_kv && kv.head_dim() == hp_.head_dim);
  if (!hooks.empty() && hooks.size() != views.size()) return invalid_argument("hooks must be empty or one per view");
  const int64_t bs = kv.block_size();
  for (int64_t r = 0; r < ub.size(); ++r) {
    if (ub.token[r] < 0 || ub.token[r] >= hp_.n_vocab)
      return invalid_argument("token id " + std::to_string(ub.token[r]) + " out of range [0, " +
                              std::to_string(hp_.n_vocab) + ")");
    if (ub.seq[r] < 0 || ub.seq[r] >= static_cast<int32_t>(views.size())) return invalid_argument("row sequence out of range");
    if (ub.pos[r] < 0 || ub.pos[r] / bs >= static_cast<int64_t>(views[ub.seq[r]].blocks.size()))
      return out_of_range("position " + std::to_string(ub.pos[r]) + " is outside the sequence's KV blocks");
  }
  return Status::ok();
}

Status Model::forward(const UBatch& ub, std::span<const SeqKvView> views, kv::KvStorage& kv,
                      std::vector<float>& logits, ThreadPool* pool, std::span<SeqHook* const> hooks) const {
  const HParams& hp = hp_;
  const ArchSpec& spec = hp.spec;
  const int64_t d = hp.n_embd, qd = hp.q_dim(), kvd = hp.kv_dim(), hd = hp.head_dim, ff = hp.n_ff;
  const int64_t bs = kv.block_size(), half = hd / 2;
  const int64_t n_ropes = static_cast<int64_t>(ropes_.size()), angles = n_ropes * half;
  const int64_t n_rows = ub.size();
  if (n_rows == 0) {
    logits.clear();
    return Status::ok();
  }
  KVS_RETURN_IF_ERROR(check_rows(ub, views, kv, hooks));

  // Scratch reused across calls (grown, never shrunk): decode allocates nothing per step.
  ForwardScratch& sc = forward_scratch(n_rows, d, qd, kvd, ff, angles);
  std::vector<int32_t>& rows = sc.rows;  // active ubatch rows, in order
  rows.resize(n_rows);
  for (int64_t r = 0; r < n_rows; ++r) rows[r] = static_cast<int32_t>(r);
  float* x = sc.x.data();  // the residual stream etc. (shapes in ForwardScratch)
  float *xn = sc.xn.data(), *q = sc.q.data(), *k = sc.k.data(), *v = sc.v.data(), *att = sc.att.data();
  float *gate = sc.gate.data(), *up = sc.up.data(), *rcos = sc.rcos.data(), *rsin = sc.rsin.data();

  for (int64_t r = 0; r < n_rows; ++r) {
    kernels::dequantize_row(w_.tok_embd.type, w_.tok_embd.row(ub.token[r]), x + r * d, d);
    if (spec.embd_scale != 1.0f)
      for (int64_t i = 0; i < d; ++i) x[r * d + i] *= spec.embd_scale;
    for (int64_t t = 0; t < n_ropes; ++t)
      ropes_[t].angles(ub.pos[r], rcos + r * angles + t * half, rsin + r * angles + t * half);
  }

  // kMixed keeps the attention projections (q/k/v: attention logits are the most sensitive to activation
  // quantisation) and the output head in float, the rest int8.
  kernels::MatmulOptions layer_opt, qkv_opt, head_opt;
  layer_opt.int8_activations = precision_ != Precision::kF32;
  qkv_opt.int8_activations = precision_ == Precision::kInt8;
  head_opt.int8_activations = precision_ == Precision::kInt8;
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const LayerWeights& L = w_.layers[l];
    const LayerAttention& la = spec.layers[l];
    const int64_t m = static_cast<int64_t>(rows.size());
    for (int64_t i = 0; i < m; ++i) kernels::rmsnorm(xn + i * d, x + i * d, L.attn_norm, d, hp.rms_eps);
    project_qkv(hp, L, la, m, xn, q, k, v, rcos, rsin, angles, pool, qkv_opt);
    // Hooks see the fresh K/V before they overwrite the slots (selective recompute compares them with the
    // reused values still in the cache).
    const bool dropped = run_hooks(ub, rows, hooks, static_cast<int>(l), q, k, v, qd, kvd, sc.keep);
    // Write this layer's K/V of every active row into its slot.
    for (int64_t i = 0; i < m; ++i) {
      const int32_t r = rows[i];
      const int64_t p = ub.pos[r];
      const int32_t blk = views[ub.seq[r]].blocks[p / bs];
      for (int64_t g = 0; g < hp.n_head_kv; ++g) {
        kv.store_k(l, blk, g, p % bs, 1, k + i * kvd + g * hd);
        kv.store_v(l, blk, g, p % bs, 1, v + i * kvd + g * hd);
      }
    }
    if (dropped) compact_rows(rows, sc.keep, x, q, rcos, rsin, d, qd, angles);
    if (rows.empty()) break;  // every row stopped at this layer (blend scoring chunks)
    const int64_t ma = static_cast<int64_t>(rows.size());
    const AttentionShape shape{hp.n_head, hp.n_head_kv, hd, la.window, spec.attn_scale};
    attention_rows(ub, rows, views, kv, l, shape, q, att, pool);
    kernels::matmul(L.wo.data, L.wo.type, d, qd, att, ma, xn, d, pool, layer_opt);
    add_residual(x, xn, L.post_attn_norm, ma, d, hp.rms_eps);
    ffn_block(hp, L, ma, x, xn, gate, up, pool, layer_opt);
  }

  // Final norm and head, only for rows that want logits.
  float* hout = xn;  // (n_out, n_embd): xn is free now
  int64_t n_out = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!ub.out[rows[i]]) continue;
    kernels::rmsnorm(hout + n_out * d, x + i * d, w_.output_norm, d, hp.rms_eps);
    ++n_out;
  }
  KVS_CHECK_MSG(n_out == ub.n_out(), "a row that wants logits was dropped by the hooks");
  logits.resize(n_out * hp.n_vocab);
  if (n_out > 0)
    kernels::matmul(w_.output.data, w_.output.type, hp.n_vocab, d, hout, n_out, logits.data(), hp.n_vocab, pool,
                    head_opt);
  return Status::ok();
}

}  // namespace kvs::model
