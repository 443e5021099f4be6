// Gemma 3's architecture description read from the real GGUF (scripts/fetch_model.sh --model gemma3-270m) against
// the model's published config (google/gemma-3-270m config.json: hidden 640, 18 layers, 4 heads, 1 KV head,
// head_dim 256, sliding_window 512, layer_types: every 6th layer full attention, rope_theta 1e6,
// rope_local_base_freq 1e4, query_pre_attn_scalar 256), and the forward's use of the window: with a window, a
// token outside every local layer's window reaches the logits only through the global layers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>

#include "base/thread_pool.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace kvs::model {
namespace {

// scripts/fetch_model.sh --model gemma3-270m: $KVS_GEMMA_MODEL, else models/gemma-3-270m-q4_k_m.gguf from the cwd
// or its parents (ctest runs in build/). Empty when absent: the tests FAIL (never skip).
std::string gemma_model_path() {
  if (const char* env = std::getenv("KVS_GEMMA_MODEL"); env != nullptr && *env != '\0') return env;
  for (const char* p : {"models/gemma-3-270m-q4_k_m.gguf", "../models/gemma-3-270m-q4_k_m.gguf",
                        "../../models/gemma-3-270m-q4_k_m.gguf"})
    if (std::filesystem::exists(p)) return p;
  return "";
}

std::unique_ptr<Model> load_gemma() {
  const std::string path = gemma_model_path();
  EXPECT_FALSE(path.empty()) << "Gemma model not found: run scripts/fetch_model.sh --model gemma3-270m";
  if (path.empty()) return nullptr;
  auto m = Model::load(path);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? std::move(m).value() : nullptr;
}

TEST(GemmaArch, DescriptionMatchesThePublishedConfig) {
  auto m = load_gemma();
  ASSERT_NE(m, nullptr);
  const HParams& hp = m->hparams();
  EXPECT_EQ(hp.arch, "gemma3");
  EXPECT_EQ(hp.n_embd, 640);
  EXPECT_EQ(hp.n_layer, 18);
  EXPECT_EQ(hp.n_head, 4);
  EXPECT_EQ(hp.n_head_kv, 1);
  EXPECT_EQ(hp.head_dim, 256);
  EXPECT_EQ(hp.q_dim(), 1024);
  EXPECT_EQ(hp.rope_type, kernels::RopeType::kNeox);
  const ArchSpec& s = hp.spec;
  EXPECT_TRUE(s.qk_norm);
  EXPECT_TRUE(s.post_norms);
  EXPECT_EQ(s.ffn_act, FfnActivation::kGeluTanh);
  EXPECT_FLOAT_EQ(s.embd_scale, std::sqrt(640.0f));
  EXPECT_FLOAT_EQ(s.attn_scale, 1.0f / 16.0f);
  ASSERT_EQ(s.layers.size(), 18u);
  for (int l = 0; l < 18; ++l) {
    const bool global = l == 5 || l == 11 || l == 17;
    EXPECT_EQ(s.layers[l].window, global ? 0 : 512) << "layer " << l;
    EXPECT_DOUBLE_EQ(s.rope_bases[s.layers[l].rope], global ? 1e6 : 1e4) << "layer " << l;
    EXPECT_EQ(&m->layer_rope(l), m->layer_ropes()[l]);
  }
  EXPECT_TRUE(m->weights().tied_output);
}

// A 530-token prompt: at position 529 the local layers (window 512) see positions 18..529 only. The same weights
// with every layer global (the description, not the weights, decides) must give other logits: a forward that
// ignored the window would give the same logits in both runs. (Correctness of the windowed logits themselves:
// tests/python/test_gemma_ref.py, against transformers.)
TEST(GemmaArch, SlidingWindowChangesTheLogitsOfALongPrompt) {
  auto m = load_gemma();
  ASSERT_NE(m, nullptr);
  const HParams& hp = m->hparams();
  const int64_t n = 530, bs = 16, nb = (n + bs - 1) / bs;
  ThreadPool pool(ThreadPool::default_threads());
  auto run = [&](const Model& model) {
    kv::KvStorage kv(hp.n_layer, nb, bs, hp.n_head_kv, hp.head_dim);
    std::vector<int32_t> blocks(nb);
    std::iota(blocks.begin(), blocks.end(), 0);
    const SeqKvView view{blocks};
    UBatch ub;
    for (int64_t i = 0; i < n; ++i) ub.add(i == 0 ? 2 : 1000 + static_cast<int32_t>(i % 5000), i, 0, i + 1 == n);
    std::vector<float> logits;
    EXPECT_TRUE(model.forward(ub, std::span(&view, 1), kv, logits, &pool).is_ok());
    return logits;
  };
  const std::vector<float> windowed = run(*m);
  ASSERT_EQ(static_cast<int64_t>(windowed.size()), hp.n_vocab);
  for (float v : windowed) ASSERT_TRUE(std::isfinite(v));
  auto full = load_gemma();
  ASSERT_NE(full, nullptr);
  // Test-only: the model object is not const, only the accessor is.
  for (LayerAttention& la : const_cast<HParams&>(full->hparams()).spec.layers) la.window = 0;
  const std::vector<float> unwindowed = run(*full);
  double max_diff = 0;
  for (int64_t i = 0; i < hp.n_vocab; ++i) max_diff = std::max(max_diff, std::fabs(double(windowed[i]) - unwindowed[i]));
  EXPECT_GT(max_diff, 1e-2) << "the sliding window has no effect on a prompt longer than it";
}


// Gemma's GGUF sets tokenizer.ggml.add_bos_token: prompts must start with <bos> (id 2 in the file), once, whether
// or not a chat template already rendered it. (Without it the model degenerates: "France. The The The ...".)
TEST(GemmaArch, PromptsGetBosOnceWhenTheVocabAsksForIt) {
  auto m = load_gemma();
  ASSERT_NE(m, nullptr);
  auto t = tok::Tokenizer::from_gguf(m->file());
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  auto bos = m->file().get_int("tokenizer.ggml.bos_token_id");
  ASSERT_TRUE(bos.is_ok());
  ASSERT_TRUE((*t)->add_bos());
  auto ids = (*t)->encode("The capital of France is", false);
  ASSERT_TRUE(ids.is_ok());
  ASSERT_NE(ids->front(), static_cast<int32_t>(bos.value()));
  std::vector<int32_t> v = ids.value();
  (*t)->prepend_bos(v);
  ASSERT_EQ(v.size(), ids->size() + 1);
  EXPECT_EQ(v.front(), static_cast<int32_t>(bos.value()));
  (*t)->prepend_bos(v);  // already there: unchanged
  EXPECT_EQ(v.size(), ids->size() + 1);
}

}  // namespace
}  // namespace kvs::model
