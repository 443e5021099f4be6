// Writes the GGUF seed corpora of fuzz_gguf and fuzz_model_load (tiny files, a few KB in all), built with the
// tests' GGUF writer so they follow the reader's byte layout (src/gguf/gguf_file.h) without being committed:
//   fuzz_make_seeds <out dir>  ->  <out dir>/fuzz_gguf/*.gguf, <out dir>/fuzz_model_load/*.gguf
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "gguf_writer.h"

namespace {

using kvs::DType;
using kvs::testing::GgufWriter;
namespace gv = kvs::testing::gv;
using kvs::gguf::ValueType;

std::vector<float> ramp(int64_t n) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.01f * static_cast<float>(i % 97) - 0.3f;
  return v;
}

// Every metadata value type, a nested array, a custom alignment and tensors of several types.
GgufWriter metadata_seed() {
  GgufWriter w;
  w.set_alignment(64);
  w.add_u8("t.u8", 7).add_i32("t.i32", -5).add_u32("t.u32", 9).add_u64("t.u64", 1ull << 40).add_i64("t.i64", -3)
      .add_f32("t.f32", 1.5f).add_f64("t.f64", -2.25).add_bool("t.bool", true).add_string("t.str", "héllo")
      .add("t.u16", gv::u16(65535)).add("t.i16", gv::i16(-2)).add("t.i8", gv::i8(-1))
      .add_string_array("t.strs", {"a", "", "<|im_start|>"}).add_int_array("t.ints", {1, -2, 3})
      .add_float_array("t.floats", {0.5, -1.0}, ValueType::kFloat64)
      .add("t.nested", gv::array(ValueType::kArray, {gv::array(ValueType::kUint8, {gv::u8(1), gv::u8(2)}),
                                                     gv::array(ValueType::kUint8, {})}));
  w.add_tensor("a.f32", {4, 2}, DType::kF32, kvs::testing::f32_bytes(ramp(8)));
  w.add_tensor("b.f16", {8}, DType::kF16, std::string(16, '\x3c'));
  w.add_tensor("c.q8_0", {32, 2}, DType::kQ8_0, std::string(2 * 34, '\x01'));
  w.add_tensor("d.q4_1", {32}, DType::kQ4_1, std::string(20, '\x11'));
  return w;
}

// A tiny Llama (d 8, 2 heads of 4, 1 kv head, ff 8, vocab 5) that the model loader accepts.
struct TinyLlama {
  std::string arch = "llama";
  int n_layer = 1;
  uint32_t declared_layers = 0;  // block_count written to the file (0: n_layer); tensors exist for n_layer only
  bool tied = false;
  bool bias = false;
  DType matrix_type = DType::kF32;
};

GgufWriter llama_seed(const TinyLlama& o) {
  const int64_t d = o.matrix_type == DType::kF32 ? 8 : 32, n_head = 2, n_head_kv = 1, hd = d / n_head, ff = 8, vocab = 5;
  const int64_t kv = n_head_kv * hd;
  GgufWriter w;
  const std::string a = o.arch + ".";
  w.add_string("general.architecture", o.arch).add_string("general.name", "tiny")
      .add_u32(a + "embedding_length", d).add_u32(a + "block_count", o.declared_layers ? o.declared_layers : o.n_layer)
      .add_u32(a + "attention.head_count", n_head).add_u32(a + "attention.head_count_kv", n_head_kv)
      .add_u32(a + "feed_forward_length", ff).add_u32(a + "context_length", 64).add_u32(a + "vocab_size", vocab)
      .add_f32(a + "rope.freq_base", 10000.0f).add_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  auto matrix = [&](const std::string& name, int64_t k, int64_t n) {
    if (o.matrix_type == DType::kF32 || k % 32 != 0) {
      w.add_tensor(name, {k, n}, DType::kF32, kvs::testing::f32_bytes(ramp(k * n)));
    } else {  // Q8_0: per 32 elements a f16 scale + 32 int8
      w.add_tensor(name, {k, n}, DType::kQ8_0, std::string(static_cast<size_t>(k / 32 * 34 * n), '\x02'));
    }
  };
  auto vec = [&](const std::string& name, int64_t n) {
    w.add_tensor(name, {n}, DType::kF32, kvs::testing::f32_bytes(std::vector<float>(n, 1.0f)));
  };
  matrix("token_embd.weight", d, vocab);
  vec("output_norm.weight", d);
  if (!o.tied) matrix("output.weight", d, vocab);
  for (int l = 0; l < o.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    vec(p + "attn_norm.weight", d);
    matrix(p + "attn_q.weight", d, d);
    matrix(p + "attn_k.weight", d, kv);
    matrix(p + "attn_v.weight", d, kv);
    matrix(p + "attn_output.weight", d, d);
    vec(p + "ffn_norm.weight", d);
    matrix(p + "ffn_gate.weight", d, ff);
    matrix(p + "ffn_up.weight", d, ff);
    matrix(p + "ffn_down.weight", ff, d);
    if (o.bias) {
      vec(p + "attn_q.bias", d);
      vec(p + "attn_k.bias", kv);
      vec(p + "attn_v.bias", kv);
    }
  }
  return w;
}

bool write(const std::filesystem::path& path, const GgufWriter& w) {
  kvs::Status s = w.write(path.string());
  if (!s.is_ok()) std::fprintf(stderr, "fuzz_make_seeds: %s\n", s.to_string().c_str());
  return s.is_ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds <out dir>\n");
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out / "fuzz_gguf");
  std::filesystem::create_directories(out / "fuzz_model_load");
  bool ok = write(out / "fuzz_gguf" / "metadata.gguf", metadata_seed());
  ok &= write(out / "fuzz_gguf" / "v2_empty.gguf", GgufWriter().set_version(2));
  ok &= write(out / "fuzz_gguf" / "tiny_llama.gguf", llama_seed({}));
  ok &= write(out / "fuzz_model_load" / "llama.gguf", llama_seed({}));
  ok &= write(out / "fuzz_model_load" / "llama_tied_2_layers.gguf", llama_seed({.n_layer = 2, .tied = true}));
  ok &= write(out / "fuzz_model_load" / "qwen2_bias.gguf", llama_seed({.arch = "qwen2", .bias = true}));
  ok &= write(out / "fuzz_model_load" / "llama_q8_0.gguf", llama_seed({.matrix_type = DType::kQ8_0}));
  // Regression seed of the fixed finding: block_count 2^31 with one layer's tensors (Weights::from_gguf once
  // allocated ~141 GB for it); written here rather than committed, so the repository holds no model files.
  ok &= write(out / "fuzz_model_load" / "block_count_2e31.gguf", llama_seed({.declared_layers = 1u << 31}));
  return ok ? 0 : 1;
}
