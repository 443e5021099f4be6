// eval::AnswerScorer / answer_logprob (src/eval/likelihood.h) on the tiny random Llama: the teacher-forced
// log-likelihood equals a direct computation (one forward of prompt + answer, log-softmax by hand), bit for bit
// whatever the chunk size and whichever answers were scored before behind the same prompt.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <numeric>
#include <random>

#include "eval/likelihood.h"
#include "kv/kv_manager.h"
#include "model/model.h"
#include "model/tiny_llama.h"

namespace kvs::eval {
namespace {

ThreadPool* test_pool() {
  static ThreadPool pool(2);
  return &pool;
}

const model::Model& tiny() {
  static const std::unique_ptr<model::Model> m = [] {
    auto r = model::Model::load(testing::write_tiny_llama("kvs_tiny_llama_likelihood.gguf"));
    KVS_CHECK_MSG(r.is_ok(), r.is_ok() ? "" : r.status().to_string().c_str());
    return std::move(r).value();
  }();
  return *m;
}

std::vector<int32_t> random_tokens(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> v(n);
  for (auto& t : v) t = static_cast<int32_t>(rng() % 101);
  return v;
}

// One forward of prompt + answer (an f32 KvStorage of its own, as the scorer's), logits at rows n_prompt - 1 .. end - 1, log-softmax
// in double written out here.
std::vector<double> direct_logprobs(const model::Model& m, const std::vector<int32_t>& prompt,
                                    const std::vector<int32_t>& answer) {
  const auto& hp = m.hparams();
  const int64_t n = static_cast<int64_t>(prompt.size() + answer.size()), bs = 16, nb = (n + bs - 1) / bs;
  kv::KvStorage kv(hp.n_layer, nb, bs, hp.n_head_kv, hp.head_dim, DType::kF32);
  std::vector<int32_t> blocks(nb);
  std::iota(blocks.begin(), blocks.end(), 0);
  const model::SeqKvView view{blocks};
  model::UBatch ub;
  std::vector<int32_t> seq = prompt;
  seq.insert(seq.end(), answer.begin(), answer.end());
  for (size_t i = 0; i < seq.size(); ++i)
    ub.add(seq[i], static_cast<int32_t>(i), 0, i + 1 >= prompt.size() && i + 1 < seq.size());
  std::vector<float> logits;
  KVS_CHECK(m.forward(ub, std::span(&view, 1), kv, logits, test_pool()).is_ok());
  std::vector<double> out;
  for (size_t j = 0; j < answer.size(); ++j) {
    const float* row = logits.data() + j * hp.n_vocab;
    double mx = row[0];
    for (int64_t v = 1; v < hp.n_vocab; ++v) mx = std::max<double>(mx, row[v]);
    double s = 0;
    for (int64_t v = 0; v < hp.n_vocab; ++v) s += std::exp(static_cast<double>(row[v]) - mx);
    out.push_back(static_cast<double>(row[answer[j]]) - (mx + std::log(s)));
  }
  return out;
}

TEST(EvalLikelihood, MatchesADirectForwardForEveryChunkSize) {
  const auto prompt = random_tokens(37, 1), answer = random_tokens(21, 2);
  const auto want = direct_logprobs(tiny(), prompt, answer);
  double want_sum = 0;
  for (double x : want) {
    EXPECT_LT(x, 0.0);
    want_sum += x;
  }
  for (int64_t chunk : {1, 3, 16, 256}) {
    AnswerScorer sc(tiny(), 64, test_pool(), chunk);
    ASSERT_TRUE(sc.set_prompt(prompt).is_ok());
    auto r = sc.score(answer);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_EQ(r->token_logprobs.size(), answer.size());
    for (size_t j = 0; j < answer.size(); ++j) EXPECT_EQ(r->token_logprobs[j], want[j]) << "chunk " << chunk << ", j " << j;
    EXPECT_NEAR(r->sum, want_sum, 1e-12);
  }
  double n_tokens = 0;
  auto one = answer_logprob(tiny(), prompt, answer, test_pool(), &n_tokens);
  ASSERT_TRUE(one.is_ok());
  EXPECT_NEAR(one.value(), want_sum, 1e-12);
  EXPECT_EQ(n_tokens, 21.0);
}

TEST(EvalLikelihood, AnswersBehindOnePromptDoNotSeeEachOther) {
  const auto prompt = random_tokens(20, 3), a = random_tokens(30, 4), b = random_tokens(9, 5);
  AnswerScorer sc(tiny(), 64, test_pool(), 8);
  ASSERT_TRUE(sc.set_prompt(prompt).is_ok());
  auto ra = sc.score(a);
  auto rb = sc.score(b);  // shorter: a's later slots still hold a's K/V, never read
  auto ra2 = sc.score(a);
  ASSERT_TRUE(ra.is_ok() && rb.is_ok() && ra2.is_ok());
  EXPECT_EQ(rb->token_logprobs, direct_logprobs(tiny(), prompt, b));
  EXPECT_EQ(ra->token_logprobs, ra2->token_logprobs);
  EXPECT_EQ(ra->token_logprobs, direct_logprobs(tiny(), prompt, a));
}

TEST(EvalLikelihood, EmptyAnswerCapacityAndPrecision) {
  const auto prompt = random_tokens(10, 6);
  AnswerScorer sc(tiny(), 16, test_pool());
  EXPECT_FALSE(sc.score(prompt).is_ok()) << "score before set_prompt";
  ASSERT_TRUE(sc.set_prompt(prompt).is_ok());
  auto e = sc.score({});
  ASSERT_TRUE(e.is_ok());
  EXPECT_TRUE(e->token_logprobs.empty());
  EXPECT_EQ(e->sum, 0.0);
  EXPECT_EQ(sc.score(random_tokens(7, 7)).status().code(), Code::kInvalidArgument) << "10 + 7 > 16 slots";
  EXPECT_TRUE(sc.score(random_tokens(6, 7)).is_ok());
  EXPECT_EQ(sc.score(std::vector<int32_t>{5, 101}).status().code(), Code::kInvalidArgument) << "outside vocab";
  EXPECT_EQ(sc.set_prompt({}).code(), Code::kInvalidArgument);

  auto m = model::Model::load(testing::write_tiny_llama("kvs_tiny_llama_likelihood_int8.gguf"));
  ASSERT_TRUE(m.is_ok());
  m.value()->set_precision(model::Precision::kInt8);
  AnswerScorer approx(*m.value(), 16, test_pool());
  EXPECT_EQ(approx.set_prompt(prompt).code(), Code::kInvalidArgument) << "the exact model is f32";
}

}  // namespace
}  // namespace kvs::eval
