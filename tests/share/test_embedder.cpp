// Embedder and BertModel (src/share/embedder): the forward on a tiny random BERT written with tests/gguf_writer.h,
// against a naive double-precision reference written here from the BERT definition; pooling and normalisation
// options; batch invariance; loader errors; the gelu/layer-norm helpers against libm.
// (The comparison with the real model and transformers is tests/python/test_embedder_ref.py.)
#include "share/embedder/embedder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gguf_writer.h"
#include "kernels/cpu/ops.h"

namespace kvs::share {
namespace {

constexpr int kD = 8, kH = 2, kF = 16, kL = 2, kP = 48, kTypes = 2;  // kP > 16: texts span several attention blocks
const std::vector<std::string> kVocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "patient", "has",
                                         "a",     "fever", "cough", "##s",   "doctor", "?",     "and",   "pain"};
const int kV = static_cast<int>(kVocab.size());

// Tensors of the tiny model: name -> (ne, values); matrices are torch [out][in] row-major = ne {in, out}.
struct Tiny {
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> t;
  const std::vector<float>& operator[](const std::string& n) const { return t.at(n).second; }
};

Tiny make_tiny(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  Tiny m;
  auto add = [&](const std::string& name, std::vector<int64_t> ne, float scale, float offset) {
    int64_t n = 1;
    for (int64_t e : ne) n *= e;
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = offset + scale * u(rng);
    m.t[name] = {std::move(ne), std::move(v)};
  };
  add("token_embd.weight", {kD, kV}, 2, 0);
  add("position_embd.weight", {kD, kP}, 1, 0);
  add("token_types.weight", {kD, kTypes}, 1, 0);
  add("token_embd_norm.weight", {kD}, 0.5f, 1);
  add("token_embd_norm.bias", {kD}, 0.2f, 0);
  for (int l = 0; l < kL; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    for (const char* w : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      add(p + w + ".weight", {kD, kD}, 1, 0);
      add(p + w + ".bias", {kD}, 0.2f, 0);
    }
    add(p + "attn_output_norm.weight", {kD}, 0.5f, 1);
    add(p + "attn_output_norm.bias", {kD}, 0.2f, 0);
    add(p + "ffn_up.weight", {kD, kF}, 1, 0);
    add(p + "ffn_up.bias", {kF}, 0.2f, 0);
    add(p + "ffn_down.weight", {kF, kD}, 1, 0);
    add(p + "ffn_down.bias", {kD}, 0.2f, 0);
    add(p + "layer_output_norm.weight", {kD}, 0.5f, 1);
    add(p + "layer_output_norm.bias", {kD}, 0.2f, 0);
  }
  return m;
}

struct WriteOptions {
  int pooling = 1;
  bool normalize = true;
  int max_seq_len = kP;
  bool f16_matrices = false;
  std::string arch = "bert";
  std::string skip;  // a tensor to leave out
  std::string bad_shape;  // a tensor written with a wrong shape
};

std::string write_tiny(const Tiny& m, const WriteOptions& o, const std::string& file_name) {
  testing::GgufWriter w;
  w.add_string("general.architecture", o.arch)
      .add_string("general.name", "tiny-bert")
      .add_u32("bert.context_length", kP)
      .add_u32("bert.embedding_length", kD)
      .add_u32("bert.block_count", kL)
      .add_u32("bert.feed_forward_length", kF)
      .add_u32("bert.attention.head_count", kH)
      .add_f32("bert.attention.layer_norm_epsilon", 1e-12f)
      .add_bool("bert.attention.causal", false)
      .add_u32("bert.pooling_type", static_cast<uint32_t>(o.pooling))
      .add_bool("kvshare.embedder.normalize", o.normalize)
      .add_u32("kvshare.embedder.max_seq_length", static_cast<uint32_t>(o.max_seq_len))
      .add_string("tokenizer.ggml.model", "wordpiece")
      .add_string_array("tokenizer.ggml.tokens", kVocab)
      .add_u32("tokenizer.ggml.bos_token_id", 2)
      .add_u32("tokenizer.ggml.seperator_token_id", 3)
      .add_u32("tokenizer.ggml.unknown_token_id", 1)
      .add_u32("tokenizer.ggml.padding_token_id", 0);
  for (const auto& [name, tv] : m.t) {
    if (name == o.skip) continue;
    std::vector<int64_t> ne = tv.first;
    if (name == o.bad_shape) std::swap(ne[0], ne[1]), ne[0] += 1;
    if (o.f16_matrices && name.starts_with("blk.") && ne.size() == 2) {
      std::string bytes(tv.second.size() * 2, '\0');
      for (size_t i = 0; i < tv.second.size(); ++i) {
        const uint16_t h = kernels::fp32_to_fp16(tv.second[i]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
      w.add_tensor(name, ne, DType::kF16, bytes);
    } else if (name == o.bad_shape) {
      std::vector<float> v(static_cast<size_t>(ne[0] * (ne.size() > 1 ? ne[1] : 1)), 0.0f);
      w.add_tensor(name, ne, DType::kF32, testing::f32_bytes(v));
    } else {
      w.add_tensor(name, ne, DType::kF32, testing::f32_bytes(tv.second));
    }
  }
  const std::string path = (std::filesystem::temp_directory_path() / file_name).string();
  EXPECT_TRUE(w.write(path).is_ok());
  return path;
}

// ---- naive reference (double) ----------------------------------------------------------------------------------
using Mat = std::vector<std::vector<double>>;  // (rows, cols)

Mat linear_ref(const Mat& x, const std::vector<float>& w, const std::vector<float>& b, int in, int out) {
  Mat y(x.size(), std::vector<double>(static_cast<size_t>(out)));
  for (size_t r = 0; r < x.size(); ++r)
    for (int o = 0; o < out; ++o) {
      double s = b[static_cast<size_t>(o)];
      for (int i = 0; i < in; ++i) s += x[r][static_cast<size_t>(i)] * w[static_cast<size_t>(o * in + i)];
      y[r][static_cast<size_t>(o)] = s;
    }
  return y;
}

void ln_ref(Mat& x, const std::vector<float>& g, const std::vector<float>& b) {
  for (auto& row : x) {
    double mean = 0, var = 0;
    for (double v : row) mean += v;
    mean /= static_cast<double>(row.size());
    for (double v : row) var += (v - mean) * (v - mean);
    var /= static_cast<double>(row.size());
    for (size_t j = 0; j < row.size(); ++j) row[j] = (row[j] - mean) / std::sqrt(var + 1e-12) * g[j] + b[j];
  }
}

// hidden (T, D) of one sequence.
Mat forward_ref(const Tiny& m, const std::vector<int32_t>& ids) {
  const size_t T = ids.size();
  Mat x(T, std::vector<double>(kD));
  for (size_t t = 0; t < T; ++t)
    for (int d = 0; d < kD; ++d)
      x[t][static_cast<size_t>(d)] = m["token_embd.weight"][static_cast<size_t>(ids[t] * kD + d)] +
                                     m["position_embd.weight"][t * kD + static_cast<size_t>(d)] +
                                     m["token_types.weight"][static_cast<size_t>(d)];
  ln_ref(x, m["token_embd_norm.weight"], m["token_embd_norm.bias"]);
  const int hd = kD / kH;
  for (int l = 0; l < kL; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Mat q = linear_ref(x, m[p + "attn_q.weight"], m[p + "attn_q.bias"], kD, kD);
    Mat k = linear_ref(x, m[p + "attn_k.weight"], m[p + "attn_k.bias"], kD, kD);
    Mat v = linear_ref(x, m[p + "attn_v.weight"], m[p + "attn_v.bias"], kD, kD);
    Mat ctx(T, std::vector<double>(kD, 0.0));
    for (int h = 0; h < kH; ++h)
      for (size_t i = 0; i < T; ++i) {
        std::vector<double> s(T);
        double mx = -1e300, sum = 0;
        for (size_t j = 0; j < T; ++j) {
          double dot = 0;
          for (int d = 0; d < hd; ++d) dot += q[i][static_cast<size_t>(h * hd + d)] * k[j][static_cast<size_t>(h * hd + d)];
          s[j] = dot / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (size_t j = 0; j < T; ++j)
          for (int d = 0; d < hd; ++d) ctx[i][static_cast<size_t>(h * hd + d)] += s[j] / sum * v[j][static_cast<size_t>(h * hd + d)];
      }
    Mat o = linear_ref(ctx, m[p + "attn_output.weight"], m[p + "attn_output.bias"], kD, kD);
    for (size_t t = 0; t < T; ++t)
      for (int d = 0; d < kD; ++d) x[t][static_cast<size_t>(d)] += o[t][static_cast<size_t>(d)];
    ln_ref(x, m[p + "attn_output_norm.weight"], m[p + "attn_output_norm.bias"]);
    Mat u = linear_ref(x, m[p + "ffn_up.weight"], m[p + "ffn_up.bias"], kD, kF);
    for (auto& row : u)
      for (auto& e : row) e = 0.5 * e * (1.0 + std::erf(e / std::sqrt(2.0)));
    Mat dn = linear_ref(u, m[p + "ffn_down.weight"], m[p + "ffn_down.bias"], kF, kD);
    for (size_t t = 0; t < T; ++t)
      for (int d = 0; d < kD; ++d) x[t][static_cast<size_t>(d)] += dn[t][static_cast<size_t>(d)];
    ln_ref(x, m[p + "layer_output_norm.weight"], m[p + "layer_output_norm.bias"]);
  }
  return x;
}

std::vector<double> embed_ref(const Tiny& m, const std::vector<int32_t>& ids, int pooling, bool normalize) {
  const Mat h = forward_ref(m, ids);
  std::vector<double> e(kD, 0.0);
  if (pooling == 2) {
    e = h[0];
  } else {
    for (const auto& row : h)
      for (int d = 0; d < kD; ++d) e[static_cast<size_t>(d)] += row[static_cast<size_t>(d)] / static_cast<double>(h.size());
  }
  if (normalize) {
    double n = 0;
    for (double v : e) n += v * v;
    for (double& v : e) v /= std::sqrt(n);
  }
  return e;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

std::unique_ptr<Embedder> load_ok(const std::string& path, int threads = 1) {
  EmbedderOptions opt;
  opt.n_threads = threads;
  auto e = Embedder::load(path, opt);
  EXPECT_TRUE(e.is_ok()) << e.status().to_string();
  return e.is_ok() ? std::move(e).value() : nullptr;
}

const char* kTexts[] = {"the patient has a fever", "Doctor?", "", "coughs and pain and fever and the doctor",
                        "the the the the the the the the the the the the the the the the the the the",
                        "the patient has a fever and a cough and pain and the doctor has a fever and the patient has a cough "
                        "and pain and the doctor"};

TEST(Embedder, MatchesNaiveReferenceMeanPooling) {
  const Tiny m = make_tiny(7);
  for (int threads : {1, 2}) {
    auto e = load_ok(write_tiny(m, {}, "kvs_tiny_bert_mean.gguf"), threads);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->dim(), kD);
    EXPECT_EQ(e->name(), "tiny-bert");
    for (const char* text : kTexts) {
      auto ids = e->tokenize(text);
      ASSERT_TRUE(ids.is_ok());
      auto v = e->embed(text);
      ASSERT_TRUE(v.is_ok()) << v.status().to_string();
      EXPECT_LT(max_abs_diff(v.value(), embed_ref(m, ids.value(), 1, true)), 2e-5) << text << " threads " << threads;
    }
  }
}

TEST(Embedder, ClsPoolingWithoutNormalisationAndF16Matrices) {
  const Tiny m = make_tiny(11);
  WriteOptions o;
  o.pooling = 2;
  o.normalize = false;
  auto e = load_ok(write_tiny(m, o, "kvs_tiny_bert_cls.gguf"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->pooling(), Pooling::kCls);
  auto ids = e->tokenize(kTexts[0]);
  auto v = e->embed(kTexts[0]);
  ASSERT_TRUE(v.is_ok());
  EXPECT_LT(max_abs_diff(v.value(), embed_ref(m, ids.value(), 2, false)), 2e-5);

  o.f16_matrices = true;  // F16 matrices: the reference keeps F32 weights, so allow their rounding
  auto h = load_ok(write_tiny(m, o, "kvs_tiny_bert_f16.gguf"));
  ASSERT_NE(h, nullptr);
  auto vh = h->embed(kTexts[0]);
  ASSERT_TRUE(vh.is_ok());
  EXPECT_LT(max_abs_diff(vh.value(), embed_ref(m, ids.value(), 2, false)), 2e-2);
}

TEST(Embedder, TruncatesToMaxSeqLength) {
  const Tiny m = make_tiny(3);
  WriteOptions o;
  o.max_seq_len = 6;
  auto e = load_ok(write_tiny(m, o, "kvs_tiny_bert_trunc.gguf"));
  ASSERT_NE(e, nullptr);
  auto ids = e->tokenize(kTexts[4]);
  ASSERT_TRUE(ids.is_ok());
  EXPECT_EQ(ids->size(), 6u);
  EXPECT_EQ(ids->front(), 2);
  EXPECT_EQ(ids->back(), 3);
  auto v = e->embed(kTexts[4]);
  ASSERT_TRUE(v.is_ok());
  EXPECT_LT(max_abs_diff(v.value(), embed_ref(m, ids.value(), 1, true)), 2e-5);
}

TEST(Embedder, BatchEqualsOneByOne) {
  const Tiny m = make_tiny(5);
  for (int64_t max_batch_tokens : {1, 7, 4096}) {
    EmbedderOptions opt;
    opt.n_threads = 2;
    opt.max_batch_tokens = max_batch_tokens;
    auto e = Embedder::load(write_tiny(m, {}, "kvs_tiny_bert_batch.gguf"), opt);
    ASSERT_TRUE(e.is_ok());
    std::vector<std::string> texts(std::begin(kTexts), std::end(kTexts));
    auto batch = e.value()->embed_batch(texts);
    ASSERT_TRUE(batch.is_ok());
    ASSERT_EQ(batch->size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      auto one = e.value()->embed(texts[i], nullptr);  // calling thread only
      ASSERT_TRUE(one.is_ok());
      ASSERT_EQ(one->size(), static_cast<size_t>(kD));
      for (int d = 0; d < kD; ++d) EXPECT_NEAR((*batch)[i][static_cast<size_t>(d)], (*one)[static_cast<size_t>(d)], 1e-5);
    }
  }
}

TEST(Embedder, RejectsBadInput) {
  auto e = load_ok(write_tiny(make_tiny(1), {}, "kvs_tiny_bert_bad.gguf"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->embed("fever \xFF").status().code(), Code::kInvalidArgument);
  std::vector<std::string> texts = {"fine", "\xC3"};
  auto r = e->embed_batch(texts);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("text 1"), std::string::npos);
}

TEST(Embedder, LoadErrorsNameTheProblem) {
  const Tiny m = make_tiny(2);
  EXPECT_FALSE(Embedder::load("/nonexistent/embedder.gguf").is_ok());
  WriteOptions o;
  o.arch = "llama";
  EXPECT_EQ(Embedder::load(write_tiny(m, o, "kvs_tiny_bad_arch.gguf")).status().code(), Code::kUnsupported);
  o = {};
  o.skip = "blk.1.ffn_down.bias";
  auto r = Embedder::load(write_tiny(m, o, "kvs_tiny_missing.gguf"));
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("blk.1.ffn_down.bias"), std::string::npos);
  o = {};
  o.bad_shape = "blk.0.attn_q.weight";
  r = Embedder::load(write_tiny(m, o, "kvs_tiny_shape.gguf"));
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("blk.0.attn_q.weight"), std::string::npos);
  o = {};
  o.pooling = 3;
  EXPECT_EQ(Embedder::load(write_tiny(m, o, "kvs_tiny_pool.gguf")).status().code(), Code::kUnsupported);
}

TEST(BertHelpers, GeluMatchesErfForm) {
  std::vector<float> x;
  for (double v = -12; v <= 12; v += 0.001) x.push_back(static_cast<float>(v));
  x.push_back(0.0f);
  std::vector<float> y = x;
  gelu_erf(y.data(), static_cast<int64_t>(y.size()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], ref = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    worst = std::max(worst, std::abs(y[i] - ref) / (1.0 + std::abs(v)));
  }
  EXPECT_LT(worst, 1e-6);
}

TEST(BertHelpers, LayerNormMatchesDouble) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-3, 3);
  for (int n : {1, 7, 8, 384, 385}) {
    std::vector<float> x(static_cast<size_t>(n)), w(x.size()), b(x.size()), out(x.size());
    for (int i = 0; i < n; ++i) x[static_cast<size_t>(i)] = 5 + u(rng), w[static_cast<size_t>(i)] = u(rng), b[static_cast<size_t>(i)] = u(rng);
    layer_norm(out.data(), x.data(), w.data(), b.data(), n, 1e-5f);
    double mean = 0, var = 0;
    for (float v : x) mean += v;
    mean /= n;
    for (float v : x) var += (v - mean) * (v - mean);
    var /= n;
    for (int i = 0; i < n; ++i) {
      const size_t k = static_cast<size_t>(i);
      EXPECT_NEAR(out[k], (x[k] - mean) / std::sqrt(var + 1e-5) * w[k] + b[k], 2e-5) << n;
    }
  }
}

}  // namespace
}  // namespace kvs::share
