// A tiny random Llama GGUF for forward-contract tests (F32 weights, fixed seed): small enough to run in
// milliseconds, a different shape from the real model (GQA group 2, 3 layers, head_dim 16).
#pragma once
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "gguf_writer.h"

namespace kvs::testing {

inline std::string write_tiny_llama(const std::string& file_name, uint32_t seed = 7) {
  const int64_t d = 64, n_head = 4, n_head_kv = 2, hd = d / n_head, ff = 96, n_layer = 3, vocab = 101;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto rnd = [&](int64_t n, float scale) {
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng) * scale;
    return v;
  };
  auto ones = [](int64_t n) { return std::vector<float>(n, 1.0f); };
  GgufWriter w;
  w.add_string("general.architecture", "llama")
      .add_u32("llama.embedding_length", d)
      .add_u32("llama.block_count", n_layer)
      .add_u32("llama.attention.head_count", n_head)
      .add_u32("llama.attention.head_count_kv", n_head_kv)
      .add_u32("llama.feed_forward_length", ff)
      .add_u32("llama.context_length", 1024)
      .add_u32("llama.vocab_size", vocab)
      .add_f32("llama.rope.freq_base", 10000.0f)
      .add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  const float s = 1.0f / std::sqrt(static_cast<float>(d));
  w.add_tensor("token_embd.weight", {d, vocab}, DType::kF32, f32_bytes(rnd(d * vocab, 1.0f)));
  w.add_tensor("output_norm.weight", {d}, DType::kF32, f32_bytes(ones(d)));
  w.add_tensor("output.weight", {d, vocab}, DType::kF32, f32_bytes(rnd(d * vocab, s)));
  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const int64_t ud = d, ukv = n_head_kv * hd, uff = ff;
    w.add_tensor(p + "attn_norm.weight", {ud}, DType::kF32, f32_bytes(ones(d)));
    w.add_tensor(p + "attn_q.weight", {ud, ud}, DType::kF32, f32_bytes(rnd(d * d, s)));
    w.add_tensor(p + "attn_k.weight", {ud, ukv}, DType::kF32, f32_bytes(rnd(d * ukv, s)));
    w.add_tensor(p + "attn_v.weight", {ud, ukv}, DType::kF32, f32_bytes(rnd(d * ukv, s)));
    w.add_tensor(p + "attn_output.weight", {ud, ud}, DType::kF32, f32_bytes(rnd(d * d, s)));
    w.add_tensor(p + "ffn_norm.weight", {ud}, DType::kF32, f32_bytes(ones(d)));
    w.add_tensor(p + "ffn_gate.weight", {ud, uff}, DType::kF32, f32_bytes(rnd(d * ff, s)));
    w.add_tensor(p + "ffn_up.weight", {ud, uff}, DType::kF32, f32_bytes(rnd(d * ff, s)));
    w.add_tensor(p + "ffn_down.weight", {uff, ud}, DType::kF32, f32_bytes(rnd(ff * d, 1.0f / std::sqrt(float(ff)))));
  }
  // One file per process, written aside and renamed into place: ctest runs tests of one binary in parallel
  // processes, and rewriting a file another process has mapped kills it with SIGBUS.
  const std::string path =
      (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_" + file_name)).string();
  KVS_CHECK(w.write(path + ".tmp").is_ok());
  std::filesystem::rename(path + ".tmp", path);
  return path;
}

}  // namespace kvs::testing
