// The forward contract (docs/architecture.md), on a tiny random Llama GGUF and on the real model, in f32:
//  - one-shot prefill == chunked prefill (several chunk sizes) == token-by-token decode, bit for bit;
//  - a multi-sequence ubatch (prefill rows of one, decode rows of another) == each sequence run alone;
//  - rows a hook drops after a layer leave every kept row's output unchanged (the kept row of the hooked
//    sequence, whose later-layer K/V of the dropped rows are already exact, and other sequences' rows).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <numeric>

#include "kv/kv_manager.h"
#include "base/thread_pool.h"
#include "model/model.h"
#include "test_model_path.h"
#include "tiny_llama.h"

namespace kvs::model {
namespace {

// Two workers: the kernels split rows and heads across threads, as in serving.
ThreadPool* test_pool() {
  static ThreadPool pool(2);
  return &pool;
}

struct Fixture {
  std::unique_ptr<Model> model;
  std::string name;
};

const Fixture& tiny() {
  static const Fixture f = [] {
    auto m = Model::load(testing::write_tiny_llama("kvs_tiny_llama_contract.gguf"));
    KVS_CHECK_MSG(m.is_ok(), m.is_ok() ? "" : m.status().to_string().c_str());
    return Fixture{std::move(m).value(), "tiny"};
  }();
  return f;
}

const Fixture& real() {
  static const Fixture f = [] {
    auto m = Model::load(testing::default_model_path());
    return m.is_ok() ? Fixture{std::move(m).value(), "smollm2"} : Fixture{nullptr, "smollm2"};
  }();
  return f;
}

// One sequence's KV and a forward helper.
struct Seq {
  std::unique_ptr<kv::KvManager> kv;  // own pool per test: slots never shared by accident
  kv::BlockTable table;
};

std::unique_ptr<kv::KvManager> make_kv(const Model& m, int32_t n_blocks = 256) {
  const auto& hp = m.hparams();
  return std::make_unique<kv::KvManager>(kv::KvGeometry{hp.n_layer, hp.n_head_kv, hp.head_dim, 16}, n_blocks);
}

std::vector<int32_t> tokens_for(const Model& m, int n, int salt) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = static_cast<int32_t>((i * 37 + salt * 11 + 5) % m.hparams().n_vocab);
  return t;
}

// Runs rows [begin, end) of `toks` for one sequence, logits for every row; appends them to `out`.
void run_rows(const Model& m, kv::KvManager& kv, kv::BlockTable& table, const std::vector<int32_t>& toks,
              int begin, int end, std::vector<float>& out, SeqHook* hook = nullptr) {
  UBatch ub;
  for (int p = begin; p < end; ++p) ub.add(toks[p], p, 0, true);
  SeqKvView view{table.ids()};
  std::vector<float> logits;
  SeqHook* hooks[1] = {hook};
  ASSERT_TRUE(m.forward(ub, std::span(&view, 1), kv.storage(), logits, test_pool(),
                        hook ? std::span<SeqHook* const>(hooks) : std::span<SeqHook* const>{})
                  .is_ok());
  out.insert(out.end(), logits.begin(), logits.end());
}

std::vector<float> prefill_in_chunks(const Model& m, const std::vector<int32_t>& toks, int chunk) {
  auto kv = make_kv(m);
  kv::BlockTable table;
  EXPECT_TRUE(kv->reserve(table, static_cast<int64_t>(toks.size())).is_ok());
  std::vector<float> out;
  for (int b = 0; b < static_cast<int>(toks.size()); b += chunk)
    run_rows(m, *kv, table, toks, b, std::min<int>(b + chunk, static_cast<int>(toks.size())), out);
  return out;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class ForwardContract : public ::testing::TestWithParam<const char*> {
 protected:
  const Model* model() {
    const Fixture& f = std::string(GetParam()) == "tiny" ? tiny() : real();
    return f.model.get();
  }
};

TEST_P(ForwardContract, ChunkedPrefillAndDecodeEqualOneShot) {
  const Model* m = model();
  ASSERT_NE(m, nullptr) << "default model missing: run scripts/fetch_model.sh";
  const auto toks = tokens_for(*m, 77, 1);
  const std::vector<float> one_shot = prefill_in_chunks(*m, toks, 77);
  ASSERT_EQ(one_shot.size(), toks.size() * m->hparams().n_vocab);
  for (int chunk : {1, 5, 16, 33}) EXPECT_TRUE(bit_equal(prefill_in_chunks(*m, toks, chunk), one_shot)) << "chunk " << chunk;
}

TEST_P(ForwardContract, MultiSequenceUbatchEqualsEachAlone) {
  const Model* m = model();
  ASSERT_NE(m, nullptr) << "default model missing: run scripts/fetch_model.sh";
  const int64_t nv = m->hparams().n_vocab;
  const auto a = tokens_for(*m, 40, 2), b = tokens_for(*m, 25, 3);
  const std::vector<float> a_alone = prefill_in_chunks(*m, a, 40), b_alone = prefill_in_chunks(*m, b, 1);
  // B's first 24 tokens earlier; then one forward: A's prompt rows [0, 40) and B's decode row 24 over its cache.
  auto kv = make_kv(*m);
  kv::BlockTable ta, tb;
  ASSERT_TRUE(kv->reserve(ta, 40).is_ok());
  ASSERT_TRUE(kv->reserve(tb, 25).is_ok());
  std::vector<float> b_prefix;
  run_rows(*m, *kv, tb, b, 0, 24, b_prefix);
  UBatch ub;
  for (int p = 0; p < 40; ++p) ub.add(a[p], p, 0, true);
  ub.add(b[24], 24, 1, true);
  SeqKvView views[2] = {{ta.ids()}, {tb.ids()}};
  std::vector<float> logits;
  ASSERT_TRUE(m->forward(ub, views, kv->storage(), logits, test_pool()).is_ok());
  ASSERT_EQ(logits.size(), static_cast<size_t>(41 * nv));
  EXPECT_EQ(std::memcmp(logits.data(), a_alone.data(), 40 * nv * sizeof(float)), 0) << "prefill rows of A";
  EXPECT_EQ(std::memcmp(logits.data() + 40 * nv, b_alone.data() + 24 * nv, nv * sizeof(float)), 0) << "decode row of B";
}

// Keeps only the positions >= keep_from after `layer` (and records what it saw).
struct DropHook : SeqHook {
  int layer = 1;
  int32_t keep_from = 0;
  int calls = 0;
  std::optional<std::vector<int32_t>> on_layer_kv(int l, std::span<const int32_t> pos, const float*, const float*,
                                                  const float*) override {
    ++calls;
    if (l != layer) return std::nullopt;
    std::vector<int32_t> keep;
    for (int32_t p : pos) if (p >= keep_from) keep.push_back(p);
    return keep;
  }
};

TEST_P(ForwardContract, RowsDroppedByAHookLeaveKeptRowsUnchanged) {
  const Model* m = model();
  ASSERT_NE(m, nullptr) << "default model missing: run scripts/fetch_model.sh";
  const int64_t nv = m->hparams().n_vocab;
  const int n = 48;
  const auto a = tokens_for(*m, n, 4), b = tokens_for(*m, 30, 5);
  const std::vector<float> a_full = prefill_in_chunks(*m, a, n), b_full = prefill_in_chunks(*m, b, 30);
  auto kv = make_kv(*m);
  kv::BlockTable ta, tb;
  ASSERT_TRUE(kv->reserve(ta, n).is_ok());
  ASSERT_TRUE(kv->reserve(tb, 30).is_ok());
  std::vector<float> scratch;
  run_rows(*m, *kv, ta, a, 0, n, scratch);  // every slot of A exact at every layer
  // Rerun A's rows [20, n) with a hook that drops all but the last two after layer 1, batched with B's prefill.
  DropHook hook;
  hook.keep_from = n - 2;
  UBatch ub;
  for (int p = 0; p < 30; ++p) ub.add(b[p], p, 0, p == 29);
  for (int p = 20; p < n; ++p) ub.add(a[p], p, 1, p >= n - 2);
  SeqKvView views[2] = {{tb.ids()}, {ta.ids()}};
  SeqHook* hooks[2] = {nullptr, &hook};
  std::vector<float> logits;
  ASSERT_TRUE(m->forward(ub, views, kv->storage(), logits, test_pool(), hooks).is_ok());
  EXPECT_EQ(hook.calls, m->hparams().n_layer);  // called at every layer while it had rows
  ASSERT_EQ(logits.size(), static_cast<size_t>(3 * nv));
  EXPECT_EQ(std::memcmp(logits.data(), b_full.data() + 29 * nv, nv * sizeof(float)), 0) << "other sequence";
  EXPECT_EQ(std::memcmp(logits.data() + nv, a_full.data() + (n - 2) * nv, 2 * nv * sizeof(float)), 0) << "kept rows";
  // A hook that drops every row after the last layer but keeps none wanting logits: no logits, no error.
  DropHook all;
  all.layer = 0;
  all.keep_from = n;
  UBatch ub2;
  for (int p = 20; p < n; ++p) ub2.add(a[p], p, 0, false);
  SeqHook* h2[1] = {&all};
  SeqKvView v2{ta.ids()};
  ASSERT_TRUE(m->forward(ub2, std::span(&v2, 1), kv->storage(), logits, test_pool(), h2).is_ok());
  EXPECT_TRUE(logits.empty());
  EXPECT_EQ(all.calls, 1);  // no rows left after layer 0: the hook is not called again
}

TEST_P(ForwardContract, HooksMustComeOnePerView) {
  const Model* m = model();
  ASSERT_NE(m, nullptr) << "default model missing: run scripts/fetch_model.sh";
  auto kv = make_kv(*m);
  kv::BlockTable t;
  ASSERT_TRUE(kv->reserve(t, 4).is_ok());
  UBatch ub;
  ub.add(1, 0, 0, true);
  SeqKvView v{t.ids()};
  DropHook h;
  SeqHook* hooks[2] = {&h, nullptr};
  std::vector<float> logits;
  EXPECT_EQ(m->forward(ub, std::span(&v, 1), kv->storage(), logits, test_pool(), hooks).code(), Code::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Models, ForwardContract, ::testing::Values("tiny", "smollm2"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace kvs::model
