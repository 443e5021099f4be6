// Model metadata from a hostile or corrupt GGUF: every bad value is a Status naming the key, never bad_alloc,
// an abort or a model that loads and then generates nothing (NaN). Bounds come from what the file holds.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <unistd.h>

#include "gguf_writer.h"
#include "model/hparams.h"
#include "model/model.h"
#include "model/weights.h"

namespace kvs::model {
namespace {

using testing::f32_bytes;
using testing::GgufWriter;

constexpr int64_t kD = 32, kHeads = 4, kFf = 48, kLayers = 2, kVocab = 40;

struct Meta {
  uint32_t block_count = kLayers;
  uint32_t n_embd = kD;
  uint32_t n_ff = kFf;
  uint32_t vocab = kVocab;
  float eps = 1e-5f;
  float theta = 10000.0f;
  uint32_t alignment = 32;
  size_t pad = 0;  // length of an extra string key (shifts where the data section starts)
};

// A small valid Llama image whose metadata is `m` (tensors always have the real shapes above).
std::string build(const Meta& m) {
  GgufWriter w;
  if (m.alignment != 32) w.set_alignment(m.alignment);
  if (m.pad) w.add_string("general.pad", std::string(m.pad, 'p'));
  w.add_string("general.architecture", "llama")
      .add_u32("llama.embedding_length", m.n_embd)
      .add_u32("llama.block_count", m.block_count)
      .add_u32("llama.attention.head_count", kHeads)
      .add_u32("llama.feed_forward_length", m.n_ff)
      .add_u32("llama.context_length", 256)
      .add_u32("llama.vocab_size", m.vocab)
      .add_f32("llama.rope.freq_base", m.theta)
      .add_f32("llama.attention.layer_norm_rms_epsilon", m.eps);
  auto vec = [](int64_t n) { return f32_bytes(std::vector<float>(n, 0.5f)); };
  w.add_tensor("token_embd.weight", {kD, kVocab}, DType::kF32, vec(kD * kVocab));
  w.add_tensor("output_norm.weight", {kD}, DType::kF32, vec(kD));
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    w.add_tensor(p + "attn_norm.weight", {kD}, DType::kF32, vec(kD));
    for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output"})
      w.add_tensor(p + n + ".weight", {kD, kD}, DType::kF32, vec(kD * kD));
    w.add_tensor(p + "ffn_norm.weight", {kD}, DType::kF32, vec(kD));
    w.add_tensor(p + "ffn_gate.weight", {kD, kFf}, DType::kF32, vec(kD * kFf));
    w.add_tensor(p + "ffn_up.weight", {kD, kFf}, DType::kF32, vec(kD * kFf));
    w.add_tensor(p + "ffn_down.weight", {kFf, kD}, DType::kF32, vec(kFf * kD));
  }
  return w.build();
}

Status load_hparams(const Meta& m) {
  auto f = gguf::GgufFile::from_bytes(build(m));
  if (!f.is_ok()) return f.status();
  auto hp = HParams::from_gguf(*f.value());
  if (!hp.is_ok()) return hp.status();
  return Weights::from_gguf(*f.value(), hp.value()).status();
}

void expect_rejected(const Meta& m, const std::string& needle) {
  Status s = Status::ok();
  ASSERT_NO_THROW(s = load_hparams(m));
  ASSERT_FALSE(s.is_ok()) << "expected an error naming " << needle;
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.to_string();
}

TEST(HParamsValidation, ValidFileLoads) {
  EXPECT_TRUE(load_hparams(Meta{}).is_ok()) << load_hparams(Meta{}).to_string();
}

// The crash: block_count 2^31 was accepted and layers.resize threw std::bad_alloc out of main.
TEST(HParamsValidation, BlockCountBeyondTheFilesLayersIsAnError) {
  for (uint32_t n : {uint32_t{1} << 31, uint32_t{1} << 20, uint32_t{kLayers + 1}}) {
    Meta m;
    m.block_count = n;
    expect_rejected(m, "llama.block_count = " + std::to_string(n));
  }
  // Through Model::load too (what every command calls), from a file on disk.
  Meta m;
  m.block_count = uint32_t{1} << 31;
  const std::string path =
      (std::filesystem::temp_directory_path() / ("kvs_hparams_" + std::to_string(::getpid()) + ".gguf")).string();
  {
    std::string bytes = build(m);
    FILE* fp = std::fopen(path.c_str(), "wb");
    ASSERT_NE(fp, nullptr);
    ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), fp), bytes.size());
    std::fclose(fp);
  }
  Result<std::unique_ptr<Model>> r = Status::ok();
  ASSERT_NO_THROW(r = Model::load(path));
  std::filesystem::remove(path);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("block_count"), std::string::npos) << r.status().to_string();
}

TEST(HParamsValidation, DimensionsLargerThanAnyTensorAreErrors) {
  Meta m;
  m.n_embd = 1u << 30;
  expect_rejected(m, "llama.embedding_length = 1073741824");
  m = Meta{};
  m.n_ff = 1u << 30;
  expect_rejected(m, "llama.feed_forward_length = 1073741824");
  m = Meta{};
  m.vocab = 1u << 30;
  expect_rejected(m, "llama.vocab_size = 1073741824");
}

TEST(HParamsValidation, NonFiniteOrNonPositiveEpsilonAndFreqBaseAreErrors) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (float bad : {nan, inf, -inf, -1e-5f, 0.0f, 2.0f}) {
    Meta m;
    m.eps = bad;
    expect_rejected(m, "layer_norm_rms_epsilon");
  }
  for (float bad : {nan, inf, -inf, -10000.0f, 0.0f}) {
    Meta m;
    m.theta = bad;
    expect_rejected(m, "rope.freq_base");
  }
}

// With general.alignment 2 an F32 tensor may start 2 bytes off a 4-byte boundary: rejected, not read as floats.
TEST(HParamsValidation, MisalignedF32TensorIsAnError) {
  int misaligned_layouts = 0;
  for (size_t pad = 1; pad <= 4; ++pad) {  // the data section starts at every residue mod 4 for one of these
    Meta m;
    m.alignment = 2;
    m.pad = pad;
    auto f = gguf::GgufFile::from_bytes(build(m));
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    const auto* t = f.value()->find_tensor("token_embd.weight");
    if (reinterpret_cast<uintptr_t>(t->data) % 4 == 0) {
      EXPECT_TRUE(load_hparams(m).is_ok()) << load_hparams(m).to_string();
      continue;
    }
    ++misaligned_layouts;
    expect_rejected(m, "not 4-byte aligned");
  }
  EXPECT_GT(misaligned_layouts, 0);
}

}  // namespace
}  // namespace kvs::model
