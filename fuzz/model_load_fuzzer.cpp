// Fuzz target: the model loader's metadata and weight checks (src/model hparams + weights) on a GGUF image.
// Input: the bytes of a .gguf image (seeds: tiny Llama files from fuzz_make_seeds).
//
// Oracle: HParams::from_gguf and Weights::from_gguf never crash; accepted hparams keep hparams.h's invariants
// (n_embd == n_head * head_dim, n_head % n_head_kv == 0, head_dim even, sizes positive); accepted weights keep
// weights.h's: every matrix has the shape the hparams imply and lies inside one tensor of the file (its first
// and last row are read), norms are F32 vectors of n_embd inside their tensors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "gguf/gguf_file.h"
#include "model/hparams.h"
#include "model/weights.h"

namespace {

using kvs::gguf::GgufFile;
using kvs::model::HParams;
using kvs::model::Matrix;
using kvs::model::Weights;

volatile uint8_t g_sink = 0;

// The tensor whose data range holds [p, p + n) (nullptr when none does).
const kvs::gguf::TensorInfo* tensor_holding(const GgufFile& f, const void* p, uint64_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (const auto& t : f.tensors()) {
    if (b >= t.data && b <= t.data + t.n_bytes && n <= static_cast<uint64_t>(t.data + t.n_bytes - b)) return &t;
  }
  return nullptr;
}

void check_matrix(const GgufFile& f, const Matrix& m, int64_t k, int64_t n, const char* what) {
  FUZZ_CHECK(m.k == k && m.n == n, std::string(what) + ": shape differs from the hparams");
  FUZZ_CHECK(m.data != nullptr, std::string(what) + ": no data");
  const int64_t row_bytes = kvs::dtype_row_bytes(m.type, m.k);
  const auto* t = tensor_holding(f, m.data, static_cast<uint64_t>(row_bytes) * static_cast<uint64_t>(m.n));
  FUZZ_CHECK(t != nullptr, std::string(what) + ": matrix not inside one tensor of the file");
  g_sink = g_sink + m.row(0)[0] + m.row(m.n - 1)[row_bytes - 1];
}

void check_vector(const GgufFile& f, const float* v, int64_t n, bool optional, const char* what) {
  if (!v) {
    FUZZ_CHECK(optional, std::string(what) + ": missing");
    return;
  }
  FUZZ_CHECK(tensor_holding(f, v, static_cast<uint64_t>(n) * sizeof(float)) != nullptr,
             std::string(what) + ": vector not inside one tensor of the file");
  g_sink = g_sink + static_cast<uint8_t>(v[0] + v[n - 1] > 0);
}

void check_hparams(const HParams& hp) {
  FUZZ_CHECK(hp.n_vocab > 0 && hp.n_embd > 0 && hp.n_layer > 0 && hp.n_head > 0 && hp.n_head_kv > 0 &&
                 hp.head_dim > 0 && hp.n_ff > 0 && hp.n_ctx_train > 0,
             "a size is not positive");
  FUZZ_CHECK(hp.n_embd == hp.n_head * hp.head_dim, "n_embd != n_head * head_dim");
  FUZZ_CHECK(hp.n_head % hp.n_head_kv == 0, "n_head not a multiple of n_head_kv");
  FUZZ_CHECK(hp.head_dim % 2 == 0, "head_dim odd");
}

void check_weights(const GgufFile& f, const HParams& hp, const Weights& w) {
  const int64_t d = hp.n_embd, kv = hp.kv_dim();
  check_matrix(f, w.tok_embd, d, hp.n_vocab, "token_embd");
  check_matrix(f, w.output, d, hp.n_vocab, "output");
  check_vector(f, w.output_norm, d, false, "output_norm");
  FUZZ_CHECK(static_cast<int64_t>(w.layers.size()) == hp.n_layer, "layer count differs from the hparams");
  for (const auto& L : w.layers) {
    check_vector(f, L.attn_norm, d, false, "attn_norm");
    check_vector(f, L.ffn_norm, d, false, "ffn_norm");
    check_matrix(f, L.wq, d, d, "attn_q");
    check_matrix(f, L.wk, d, kv, "attn_k");
    check_matrix(f, L.wv, d, kv, "attn_v");
    check_matrix(f, L.wo, d, d, "attn_output");
    check_matrix(f, L.w_gate, d, hp.n_ff, "ffn_gate");
    check_matrix(f, L.w_up, d, hp.n_ff, "ffn_up");
    check_matrix(f, L.w_down, hp.n_ff, d, "ffn_down");
    check_vector(f, L.bq, d, true, "attn_q.bias");
    check_vector(f, L.bk, kv, true, "attn_k.bias");
    check_vector(f, L.bv, kv, true, "attn_v.bias");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = GgufFile::from_bytes(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!file.is_ok()) return 0;
  const GgufFile& f = *file.value();
  auto hp = HParams::from_gguf(f);
  if (!hp.is_ok()) {
    FUZZ_CHECK(!hp.status().message().empty(), "hparams rejected without a message");
    return 0;
  }
  check_hparams(hp.value());
  auto w = Weights::from_gguf(f, hp.value());
  if (!w.is_ok()) {
    FUZZ_CHECK(!w.status().message().empty(), "weights rejected without a message");
    return 0;
  }
  check_weights(f, hp.value(), w.value());
  return 0;
}
