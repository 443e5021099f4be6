#include "share/embedder/embedder.h"

#include <cmath>
#include <utility>

#include "gguf/gguf_file.h"

namespace kvs::share {

Embedder::~Embedder() = default;

Result<std::unique_ptr<Embedder>> Embedder::load(const std::string& path, const EmbedderOptions& options) {
  if (options.n_threads < 0 || options.max_batch_tokens < 1) return invalid_argument("embedder: bad options");
  auto file = gguf::GgufFile::open(path);
  if (!file.is_ok()) return file.status();
  std::unique_ptr<Embedder> e(new Embedder());
  e->file_ = std::move(file).value();
  auto wp = WordPiece::from_gguf(*e->file_);
  if (!wp.is_ok()) return wp.status();
  e->wordpiece_ = std::make_unique<WordPiece>(std::move(wp).value());
  auto model = BertModel::load(*e->file_);
  if (!model.is_ok()) return model.status();
  e->model_ = std::move(model).value();
  if (e->wordpiece_->n_tokens() != e->model_->hparams().n_vocab)
    return corrupt("embedder: " + std::to_string(e->wordpiece_->n_tokens()) + " tokens but token_embd has " +
                   std::to_string(e->model_->hparams().n_vocab) + " rows");
  auto name = e->file_->get_string("general.name");
  e->name_ = name.is_ok() ? *name : path;
  e->options_ = options;
  const int n_threads = options.n_threads > 0 ? options.n_threads : ThreadPool::default_threads();
  if (n_threads > 1) e->pool_ = std::make_unique<ThreadPool>(n_threads);
  return e;
}

Result<std::vector<int32_t>> Embedder::tokenize(std::string_view text) const {
  return wordpiece_->encode(text, max_tokens());
}

void Embedder::run_locked(std::span<const int32_t> ids, std::span<const int32_t> seq_lens, ThreadPool* pool,
                          std::vector<float>& out) const {
  const int64_t D = dim();
  model_->forward(ids, seq_lens, scratch_, pool, hidden_);
  out.assign(seq_lens.size() * static_cast<size_t>(D), 0.0f);
  int64_t r0 = 0;
  for (size_t s = 0; s < seq_lens.size(); ++s) {
    const int64_t T = seq_lens[s];
    float* o = out.data() + static_cast<int64_t>(s) * D;  // (D)
    if (pooling() == Pooling::kCls) {
      std::copy(hidden_.begin() + r0 * D, hidden_.begin() + (r0 + 1) * D, o);
    } else {
      for (int64_t r = r0; r < r0 + T; ++r) {
        const float* h = hidden_.data() + r * D;
        for (int64_t j = 0; j < D; ++j) o[j] += h[j];
      }
      const float inv_t = 1.0f / static_cast<float>(T);
      for (int64_t j = 0; j < D; ++j) o[j] *= inv_t;
    }
    if (normalize()) {
      double ss = 0;
      for (int64_t j = 0; j < D; ++j) ss += static_cast<double>(o[j]) * o[j];
      // sentence-transformers' Normalize: x / max(||x||, 1e-12)
      const float inv = static_cast<float>(1.0 / std::max(std::sqrt(ss), 1e-12));
      for (int64_t j = 0; j < D; ++j) o[j] *= inv;
    }
    r0 += T;
  }
}

Result<std::vector<float>> Embedder::embed(std::string_view text, ThreadPool* pool) const {
  auto ids = tokenize(text);
  if (!ids.is_ok()) return ids.status();
  const int32_t len = static_cast<int32_t>(ids->size());
  std::vector<float> out;  // (dim)
  std::lock_guard<std::mutex> lock(mu_);
  run_locked(ids.value(), std::span<const int32_t>(&len, 1), pool, out);
  return out;
}

Result<std::vector<std::vector<float>>> Embedder::embed_batch(std::span<const std::string> texts,
                                                              ThreadPool* pool) const {
  std::vector<std::vector<int32_t>> all;  // (texts) token ids of each text
  all.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ids = tokenize(texts[i]);
    if (!ids.is_ok()) return Status(ids.status().code(), "text " + std::to_string(i) + ": " + ids.status().message());
    all.push_back(std::move(ids).value());
  }
  std::vector<std::vector<float>> result;  // (texts) x (dim)
  result.reserve(texts.size());
  const auto D = static_cast<size_t>(dim());
  std::vector<int32_t> packed, lens;  // (tokens of the chunk), (texts of the chunk)
  std::vector<float> pooled;          // (texts of the chunk, dim)
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < all.size();) {
    packed.clear();
    lens.clear();
    while (i < all.size() && (lens.empty() || static_cast<int64_t>(packed.size() + all[i].size()) <=
                                                  options_.max_batch_tokens)) {
      packed.insert(packed.end(), all[i].begin(), all[i].end());
      lens.push_back(static_cast<int32_t>(all[i].size()));
      ++i;
    }
    run_locked(packed, lens, pool, pooled);
    for (size_t s = 0; s < lens.size(); ++s)
      result.emplace_back(pooled.begin() + static_cast<std::ptrdiff_t>(s * D),
                          pooled.begin() + static_cast<std::ptrdiff_t>((s + 1) * D));
  }
  return result;
}

}  // namespace kvs::share
