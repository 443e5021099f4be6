// engine::Blend over the real forward (tiny random Llama and the real model), without the Engine: a donor's KV is
// copied and re-rotated into an edited prompt's slots, then the blend rows run in chunks of several sizes.
//  - r = 100% (and a guard fall-back) reproduce full prefill of the prompt bit for bit, chunked or not;
//  - the one-chunk path (selection inside the forward) and the two-phase chunked path give the same logits, the
//    same selection and the same scores, for both deviation scorers.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "align/edit_script.h"
#include "engine/blend.h"
#include "kv/kv_manager.h"
#include "kv/rope_shift.h"
#include "base/thread_pool.h"
#include "model/model.h"
#include "share/reuse_plan.h"
#include "test_model_path.h"
#include "../model/tiny_llama.h"

namespace kvs::engine {
namespace {

// Two workers: the kernels split rows and heads across threads, as in serving.
ThreadPool* test_pool() {
  static ThreadPool pool(2);
  return &pool;
}

const model::Model* load(const std::string& which) {
  static std::unique_ptr<model::Model> tiny, real;
  auto& slot = which == "tiny" ? tiny : real;
  if (!slot) {
    auto m = model::Model::load(which == "tiny" ? testing::write_tiny_llama("kvs_tiny_llama_blend.gguf")
                                                : testing::default_model_path());
    if (m.is_ok()) slot = std::move(m).value();
  }
  return slot.get();
}

struct Result_ {
  std::vector<float> logits;  // (n_vocab) of the last prompt row
  bool fell_back = false;
  int64_t recomputed = 0;
  std::vector<float> scores;
  int steps = 0;
};

class BlendTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    m_ = load(GetParam());
    ASSERT_NE(m_, nullptr) << "default model missing: run scripts/fetch_model.sh";
    const auto& hp = m_->hparams();
    kv_ = std::make_unique<kv::KvManager>(kv::KvGeometry{hp.n_layer, hp.n_head_kv, hp.head_dim, 16}, 128);
    for (int i = 0; i < 70; ++i) donor_.push_back(static_cast<int32_t>((i * 29 + 3) % hp.n_vocab));
    // The prompt: the donor with 3 tokens deleted at 12 and 2 inserted at 40 (positions after move by -3, -1).
    prompt_ = donor_;
    prompt_.erase(prompt_.begin() + 12, prompt_.begin() + 15);
    prompt_.insert(prompt_.begin() + 40, {7, 8});
    ASSERT_TRUE(kv_->reserve(donor_table_, static_cast<int64_t>(donor_.size())).is_ok());
    forward_rows(donor_, donor_table_, 0, static_cast<int>(donor_.size()), nullptr);
    align::EditScript script = align::align(donor_, prompt_, {});
    auto p = share::semantic_plan(static_cast<int32_t>(prompt_.size()), 1, script);
    ASSERT_TRUE(p.is_ok());
    plan_ = std::move(p).value();
    full_ = full_prefill();
  }

  // Logits of the rows with out = 1.
  std::vector<float> forward_rows(const std::vector<int32_t>& toks, const kv::BlockTable& t, int b, int e,
                                  model::SeqHook* hook, const std::vector<uint8_t>* out = nullptr,
                                  const std::vector<int32_t>* pos = nullptr) {
    model::UBatch ub;
    if (pos) {
      for (size_t i = 0; i < pos->size(); ++i) ub.add(toks[(*pos)[i]], (*pos)[i], 0, (*out)[i]);
    } else {
      for (int p = b; p < e; ++p) ub.add(toks[p], p, 0, p == e - 1);
    }
    model::SeqKvView v{t.ids()};
    model::SeqHook* hooks[1] = {hook};
    std::vector<float> logits;
    EXPECT_TRUE(m_->forward(ub, std::span(&v, 1), kv_->storage(), logits, test_pool(),
                            hook ? std::span<model::SeqHook* const>(hooks) : std::span<model::SeqHook* const>{})
                    .is_ok());
    return logits;
  }

  std::vector<float> full_prefill() {
    kv::BlockTable t;
    EXPECT_TRUE(kv_->reserve(t, static_cast<int64_t>(prompt_.size())).is_ok());
    return forward_rows(prompt_, t, 0, static_cast<int>(prompt_.size()), nullptr);
  }

  Result_ run_blend(int64_t chunk, BlendOptions opt) {
    const auto& hp = m_->hparams();
    opt.heads = share::HeadShape{hp.n_head, hp.n_head_kv, hp.head_dim};
    opt.n_layer = static_cast<int32_t>(hp.n_layer);
    kv::BlockTable t;
    EXPECT_TRUE(kv_->reserve(t, static_cast<int64_t>(prompt_.size())).is_ok());
    for (const auto& run : plan_.reused)
      kv::copy_and_shift(kv_->storage(), donor_table_.ids(), run.src, t.ids(), run.dst, run.n, m_->rope(), hp.rope_type);
    Blend b(plan_, plan_.exact_prefix, opt, kv_->storage(), t);
    Result_ r;
    while (!b.done() && r.steps < 100) {
      std::vector<int32_t> pos;
      std::vector<uint8_t> out;
      b.next_rows(std::min(chunk, b.pending_rows()), pos, out);
      auto logits = forward_rows(prompt_, t, 0, 0, b.hook(), &out, &pos);
      b.commit();
      if (!logits.empty()) r.logits = logits;
      ++r.steps;
    }
    EXPECT_TRUE(b.done());
    r.fell_back = b.fell_back();
    r.recomputed = b.recomputed_rows();
    r.scores.assign(b.scores().begin(), b.scores().end());
    return r;
  }

  static bool same(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && !a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  }

  const model::Model* m_ = nullptr;
  std::unique_ptr<kv::KvManager> kv_;
  std::vector<int32_t> donor_, prompt_;
  kv::BlockTable donor_table_;
  share::ReusePlan plan_;
  std::vector<float> full_;
};

TEST_P(BlendTest, FullRatioReproducesFullPrefillChunkedOrNot) {
  BlendOptions o;
  o.recompute_ratio = 1.0;
  o.planner.guard_threshold = std::numeric_limits<double>::infinity();
  const int64_t n = static_cast<int64_t>(prompt_.size());
  for (int64_t chunk : {n, int64_t{7}, int64_t{16}}) {
    Result_ r = run_blend(chunk, o);
    EXPECT_FALSE(r.fell_back);
    EXPECT_EQ(r.recomputed, n - plan_.exact_prefix);
    EXPECT_TRUE(same(r.logits, full_)) << "chunk " << chunk;
    if (chunk == n) EXPECT_EQ(r.steps, 1);  // scoring and selection inside one forward
    else EXPECT_GT(r.steps, 2);
  }
}

TEST_P(BlendTest, GuardFallBackIsExact) {
  BlendOptions o;
  o.planner.guard_threshold = 0.0;  // any deviation fires it
  for (int64_t chunk : {int64_t{1000}, int64_t{9}}) {
    Result_ r = run_blend(chunk, o);
    EXPECT_TRUE(r.fell_back);
    EXPECT_TRUE(same(r.logits, full_)) << "chunk " << chunk;
  }
}

TEST_P(BlendTest, OneChunkAndChunkedPathsAgree) {
  for (auto scorer : {share::DeviationScorer::kKv, share::DeviationScorer::kAttnV}) {
    BlendOptions o;
    o.recompute_ratio = 0.15;
    o.planner.guard_threshold = std::numeric_limits<double>::infinity();
    o.scorer = scorer;
    Result_ one = run_blend(1000, o);
    EXPECT_EQ(one.steps, 1);
    EXPECT_GT(one.recomputed, 3);                                         // inserted + last + selected
    EXPECT_LT(one.recomputed, static_cast<int64_t>(prompt_.size()) / 2);  // ... not everything
    EXPECT_FALSE(same(one.logits, full_));  // an approximation: selective recompute is not full compute
    for (int64_t chunk : {int64_t{5}, int64_t{16}}) {
      Result_ c = run_blend(chunk, o);
      EXPECT_TRUE(same(c.logits, one.logits)) << "chunk " << chunk << " scorer " << share::deviation_scorer_name(scorer);
      EXPECT_EQ(c.recomputed, one.recomputed);
      EXPECT_TRUE(same(c.scores, one.scores));
    }
  }
}

// Gradual filtering: the blend layer keeps widen x k candidates, a later layer keeps k of them. Both paths (one
// chunk, with the drop at R inside the forward; chunked, through kRefine) give the same bits; the final selection
// has the plain selection's size; widen = 1 is the plain selection exactly.
TEST_P(BlendTest, GradualFilteringPathsAgree) {
  BlendOptions plain;
  plain.recompute_ratio = 0.15;
  plain.planner.guard_threshold = std::numeric_limits<double>::infinity();
  const Result_ base = run_blend(1000, plain);
  BlendOptions o = plain;
  o.refine_layer = 2;  // the tiny model has 3 layers
  o.refine_widen = 1.0;
  const Result_ same_k = run_blend(1000, o);
  EXPECT_TRUE(same(same_k.logits, base.logits)) << "widen 1 filters nothing";
  o.refine_widen = 3.0;
  const Result_ one = run_blend(1000, o);
  EXPECT_EQ(one.steps, 1);
  EXPECT_EQ(one.recomputed, base.recomputed) << "the final selection keeps k";
  EXPECT_TRUE(same(one.scores, base.scores)) << "the blend layer's scores are the plain ones";
  for (int64_t chunk : {int64_t{5}, int64_t{16}}) {
    Result_ c = run_blend(chunk, o);
    EXPECT_TRUE(same(c.logits, one.logits)) << "chunk " << chunk;
    EXPECT_EQ(c.recomputed, one.recomputed);
    EXPECT_GT(c.steps, run_blend(chunk, plain).steps) << "the chunked path runs kRefine";
  }
}

TEST_P(BlendTest, RowsComeInPositionOrderWithinTheBudget) {
  BlendOptions o;
  o.recompute_ratio = 0.3;
  o.planner.guard_threshold = std::numeric_limits<double>::infinity();
  const auto& hp = m_->hparams();
  o.heads = share::HeadShape{hp.n_head, hp.n_head_kv, hp.head_dim};
  o.n_layer = static_cast<int32_t>(hp.n_layer);
  kv::BlockTable t;
  ASSERT_TRUE(kv_->reserve(t, static_cast<int64_t>(prompt_.size())).is_ok());
  Blend b(plan_, plan_.exact_prefix, o, kv_->storage(), t);
  const int64_t pending = static_cast<int64_t>(prompt_.size()) - plan_.exact_prefix;
  EXPECT_EQ(b.pending_rows(), pending);
  // Costs in row-layers: a scoring row runs layers 0..1 (2); the one-chunk path adds its expected selection.
  const int64_t L = o.n_layer;
  EXPECT_EQ(b.cost(10), 10 * 2);
  const int64_t one = b.cost(pending);
  EXPECT_GT(one, pending * 2);
  EXPECT_LT(one, pending * L);  // cheaper than a prefill of the same rows
  EXPECT_EQ(b.rows_within(one, 1000), pending);        // everything fits: one chunk
  EXPECT_EQ(b.rows_within(one - 1, 1000), pending - 1);  // not quite: all but the last row are scored now
  EXPECT_EQ(b.rows_within(21, 1000), 10);              // 21 row-layers buy 10 scoring rows
  EXPECT_EQ(b.rows_within(1000000, 16), 16);           // never more than max_rows
  EXPECT_EQ(b.rows_within(1, 1000), 0);
  std::vector<int32_t> pos;
  std::vector<uint8_t> out;
  b.next_rows(10, pos, out);
  ASSERT_EQ(pos.size(), 10u);
  for (size_t i = 0; i < pos.size(); ++i) EXPECT_EQ(pos[i], plan_.exact_prefix + static_cast<int32_t>(i));
  EXPECT_EQ(std::count(out.begin(), out.end(), 1), 0);  // scoring chunks want no logits
  EXPECT_NE(b.hook(), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Models, BlendTest, ::testing::Values("tiny", "smollm2"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace kvs::engine
