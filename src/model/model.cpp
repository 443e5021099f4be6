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
  m->rope_ = kernels::make_rope_table(static_cast<int>(m->hp_.head_dim), m->hp_.rope_theta);
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
                  float* rsin, int64_t d, int64_t half) {
  size_t w = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!keep[i]) continue;
    if (w != i) {
      std::memcpy(x + w * d, x + i * d, d * sizeof(float));
      std::memcpy(q + w * d, q + i * d, d * sizeof(float));
      std::memcpy(rcos + w * half, rcos + i * half, half * sizeof(float));
      std::memcpy(rsin + w * half, rsin + i * half, half * sizeof(float));
    }
    rows[w++] = rows[i];
  }
  rows.resize(w);
}

// The forward's buffers, one set per calling thread, reused across calls.
struct ForwardScratch {
  std::vector<int32_t> rows;        // (n_active) active ubatch rows, in order
  std::vector<float> x, xn, q, att;  // (n_rows, n_embd) residual stream, normed input, queries, attention out
  std::vector<float> k, v;          // (n_rows, kv_dim)
  std::vector<float> gate, up;      // (n_rows, n_ff)
  std::vector<float> rcos, rsin;    // (n_rows, head_dim / 2) RoPE angles
  std::vector<uint8_t> keep;        // (n_active) 1 = row continues past this layer
};
ForwardScratch& forward_scratch(int64_t n_rows, int64_t d, int64_t kvd, int64_t ff, int64_t hd) {
  thread_local ForwardScratch s;
  auto grow = [](std::vector<float>& b, int64_t n) {
    if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  };
  for (auto* b : {&s.x, &s.xn, &s.q, &s.att}) grow(*b, n_rows * d);
  grow(s.k, n_rows * kvd);
  grow(s.v, n_rows * kvd);
  grow(s.gate, n_rows * ff);
  grow(s.up, n_rows * ff);
  grow(s.rcos, n_rows * hd / 2);
  grow(s.rsin, n_rows * hd / 2);
  return s;
}

}  // namespace

Status Model::forward(const UBatch& ub, std::span<const SeqKvView> views, kv::KvStorage& kv,
                      std::vector<float>& logits, ThreadPool* pool, std::span<SeqHook* const> hooks) const {
  const HParams& hp = hp_;
  const int64_t d = hp.n_embd, kvd = hp.kv_dim(), hd = hp.head_dim, ff = hp.n_ff, bs = kv.block_size();
  const int64_t n_rows = ub.size();
  if (n_rows == 0) {
    logits.clear();
    return Status::ok();
  }
  KVS_CHECK(kv.n_layer() == hp.n_layer && kv.n_kv_head() == hp.n_head_kv && kv.head_dim() == hd);
  if (!hooks.empty() && hooks.size() != views.size()) return invalid_argument("hooks must be empty or one per view");
  for (int64_t r = 0; r < n_rows; ++r) {
    if (ub.token[r] < 0 || ub.token[r] >= hp.n_vocab)
      return invalid_argument("token id " + std::to_string(ub.token[r]) + " out of range [0, " +
                              std::to_string(hp.n_vocab) + ")");
    if (ub.seq[r] < 0 || ub.seq[r] >= static_cast<int32_t>(views.size())) return invalid_argument("row sequence out of range");
    if (ub.pos[r] < 0 || ub.pos[r] / bs >= static_cast<int64_t>(views[ub.seq[r]].blocks.size()))
      return out_of_range("position " + std::to_string(ub.pos[r]) + " is outside the sequence's KV blocks");
  }

  // Scratch reused across calls (grown, never shrunk): decode allocates nothing per step.
  ForwardScratch& sc = forward_scratch(n_rows, d, kvd, ff, hd);
  std::vector<int32_t>& rows = sc.rows;  // active ubatch rows, in order
  rows.resize(n_rows);
  for (int64_t r = 0; r < n_rows; ++r) rows[r] = static_cast<int32_t>(r);
  float* x = sc.x.data();  // the residual stream etc. (shapes in ForwardScratch)
  std::vector<float>& xn = sc.xn;
  std::vector<float>& q = sc.q;
  std::vector<float>& k = sc.k;
  std::vector<float>& v = sc.v;
  std::vector<float>& att = sc.att;
  std::vector<float>& gate = sc.gate;
  std::vector<float>& up = sc.up;
  std::vector<float>& rcos = sc.rcos;
  std::vector<float>& rsin = sc.rsin;
  std::vector<uint8_t>& keep = sc.keep;

  for (int64_t r = 0; r < n_rows; ++r) {
    kernels::dequantize_row(w_.tok_embd.type, w_.tok_embd.row(ub.token[r]), x + r * d, d);
    rope_.angles(ub.pos[r], rcos.data() + r * hd / 2, rsin.data() + r * hd / 2);
  }

  const AttentionShape shape{hp.n_head, hp.n_head_kv, hd, 0};
  // kMixed keeps the attention projections (q/k/v: attention logits are the most sensitive to activation
  // quantisation) and the output head in float, the rest int8.
  kernels::MatmulOptions layer_opt, qkv_opt, head_opt;
  layer_opt.int8_activations = precision_ != Precision::kF32;
  qkv_opt.int8_activations = precision_ == Precision::kInt8;
  head_opt.int8_activations = precision_ == Precision::kInt8;
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const LayerWeights& L = w_.layers[l];
    const int64_t m = static_cast<int64_t>(rows.size());
    for (int64_t i = 0; i < m; ++i) kernels::rmsnorm(xn.data() + i * d, x + i * d, L.attn_norm, d, hp.rms_eps);
    const kernels::MatmulOut qkv[] = {{L.wq.data, L.wq.type, d, q.data(), d},
                                      {L.wk.data, L.wk.type, kvd, k.data(), kvd},
                                      {L.wv.data, L.wv.type, kvd, v.data(), kvd}};
    kernels::matmul_many(qkv, d, xn.data(), m, pool, qkv_opt);
    add_bias(q.data(), L.bq, m, d);
    add_bias(k.data(), L.bk, m, kvd);
    add_bias(v.data(), L.bv, m, kvd);
    for (int64_t i = 0; i < m; ++i) {
      const float* c = rcos.data() + i * hd / 2;
      const float* s = rsin.data() + i * hd / 2;
      kernels::rope_apply(q.data() + i * d, static_cast<int>(hp.n_head), static_cast<int>(hd), c, s, hp.rope_type);
      kernels::rope_apply(k.data() + i * kvd, static_cast<int>(hp.n_head_kv), static_cast<int>(hd), c, s, hp.rope_type);
    }
    // Hooks see the fresh K/V before they overwrite the slots (selective recompute compares them with the
    // reused values still in the cache).
    const bool dropped = run_hooks(ub, rows, hooks, static_cast<int>(l), q.data(), k.data(), v.data(), d, kvd, keep);
    // Write this layer's K/V of every active row into its slot.
    for (int64_t i = 0; i < m; ++i) {
      const int32_t r = rows[i];
      const int64_t p = ub.pos[r];
      const int32_t blk = views[ub.seq[r]].blocks[p / bs];
      for (int64_t g = 0; g < hp.n_head_kv; ++g) {
        kv.store_k(l, blk, g, p % bs, 1, k.data() + i * kvd + g * hd);
        kv.store_v(l, blk, g, p % bs, 1, v.data() + i * kvd + g * hd);
      }
    }
    if (dropped) compact_rows(rows, keep, x, q.data(), rcos.data(), rsin.data(), d, hd / 2);
    if (rows.empty()) break;  // every row stopped at this layer (blend scoring chunks)
    const int64_t ma = static_cast<int64_t>(rows.size());
    attention_rows(ub, rows, views, kv, l, shape, q.data(), att.data(), pool);
    kernels::matmul(L.wo.data, L.wo.type, d, d, att.data(), ma, xn.data(), d, pool, layer_opt);
    for (int64_t i = 0; i < ma * d; ++i) x[i] += xn[i];
    for (int64_t i = 0; i < ma; ++i) kernels::rmsnorm(xn.data() + i * d, x + i * d, L.ffn_norm, d, hp.rms_eps);
    const kernels::MatmulOut gu[] = {{L.w_gate.data, L.w_gate.type, ff, gate.data(), ff},
                                     {L.w_up.data, L.w_up.type, ff, up.data(), ff}};
    kernels::matmul_many(gu, d, xn.data(), ma, pool, layer_opt);
    kernels::silu_mul(gate.data(), up.data(), ma * ff);
    kernels::matmul(L.w_down.data, L.w_down.type, d, ff, gate.data(), ma, xn.data(), d, pool, layer_opt);
    for (int64_t i = 0; i < ma * d; ++i) x[i] += xn[i];
  }

  // Final norm and head, only for rows that want logits.
  float* hout = xn.data();  // (n_out, n_embd): xn is free now
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
