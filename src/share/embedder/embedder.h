// Embedder: text -> sentence embedding with a BERT-family encoder (e.g. all-MiniLM-L6-v2) from one GGUF file
// (scripts/fetch_embedder.sh makes it). The vector that DonorIndex searches with.
//
//   text --WordPiece--> [CLS] pieces [SEP] (truncated to max_tokens()) --BertModel--> hidden (T, dim)
//        --pooling (mean over all T rows, or row 0 = [CLS], per bert.pooling_type)--> (dim)
//        --L2 normalisation (when kvshare.embedder.normalize)--> embedding (dim)
// This equals sentence-transformers' Transformer + Pooling + Normalize modules on one unpadded sentence.
//
// Invariants: dim() > 0; every returned vector has dim() finite floats, of unit L2 norm when normalize() is
// true; the result for a text does not depend on the batch it is embedded in (up to float rounding of the
// matmul path). Thread safety: all methods are const and may be called from several threads; forward passes are
// serialised (one scratch). Threads: the embedder's own pool (EmbedderOptions::n_threads), or a pool the caller
// passes — e.g. the engine's own, so that two pools never compete for the same cores.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "share/embedder/bert_model.h"
#include "share/embedder/wordpiece.h"

namespace kvs::gguf { class GgufFile; }

namespace kvs::share {

struct EmbedderOptions {
  int n_threads = 0;               // threads of the embedder's own pool; 0 = ThreadPool::default_threads(),
                                   // 1 = no pool (the calling thread only)
  int64_t max_batch_tokens = 4096; // embed_batch packs at most this many tokens per forward (at least one text)
};

class Embedder {
 public:
  static Result<std::unique_ptr<Embedder>> load(const std::string& path, const EmbedderOptions& options = {});
  ~Embedder();
  Embedder(const Embedder&) = delete;
  Embedder& operator=(const Embedder&) = delete;

  // The embedding of `text`: (dim). InvalidArgument when `text` is not valid UTF-8.
  Result<std::vector<float>> embed(std::string_view text) const { return embed(text, pool_.get()); }
  // One embedding (dim) per text, in order; texts are packed into forwards of <= max_batch_tokens tokens.
  Result<std::vector<std::vector<float>>> embed_batch(std::span<const std::string> texts) const {
    return embed_batch(texts, pool_.get());
  }
  // The same on the caller's pool (nullptr = the calling thread only).
  // REQUIRES: called from `pool`'s owner thread; no other user of `pool` runs meanwhile.
  Result<std::vector<float>> embed(std::string_view text, ThreadPool* pool) const;
  Result<std::vector<std::vector<float>>> embed_batch(std::span<const std::string> texts, ThreadPool* pool) const;
  // The token ids embed() runs on: [CLS] ... [SEP], at most max_tokens().
  Result<std::vector<int32_t>> tokenize(std::string_view text) const;

  int dim() const { return model_->hparams().n_embd; }
  int max_tokens() const { return model_->hparams().max_seq_len; }
  bool normalize() const { return model_->hparams().normalize; }
  Pooling pooling() const { return model_->hparams().pooling; }
  const std::string& name() const { return name_; }
  const WordPiece& wordpiece() const { return *wordpiece_; }
  const BertModel& model() const { return *model_; }

 private:
  Embedder() = default;
  // out: (n_seqs, dim) from ids packed as seq_lens. REQUIRES: mu_ held.
  void run_locked(std::span<const int32_t> ids, std::span<const int32_t> seq_lens, ThreadPool* pool,
                  std::vector<float>& out) const;

  std::unique_ptr<gguf::GgufFile> file_;  // owns the mapping the model's views point into
  std::unique_ptr<WordPiece> wordpiece_;
  std::unique_ptr<BertModel> model_;
  std::string name_;
  EmbedderOptions options_;
  mutable std::mutex mu_;
  std::unique_ptr<ThreadPool> pool_;      // GUARDED_BY(mu_); null when n_threads == 1
  mutable BertScratch scratch_;           // GUARDED_BY(mu_)
  mutable std::vector<float> hidden_;     // GUARDED_BY(mu_) (rows, dim)
};

}  // namespace kvs::share
